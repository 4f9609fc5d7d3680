// Add provider: test the issuer, fill in the settings, save it disabled, preview, then enable.
import { h, replaceChildren } from "../ui/dom";
import type { AdminContext } from "./context";
import { ApiError, problemsSentence } from "./errors";
import { textField } from "./fields";
import { PreviewPanel } from "./preview";
import { ProviderFields } from "./providerFields";
import { checkValues, defaultsFrom, documentOf } from "./providerValues";
import { displayName } from "./providerRow";
import { runAction } from "./status";
import type { Check, ProbeReport, Provider } from "./types";

function checkItem(check: Check): HTMLElement {
  const warning = check.severity === "warning";
  return h(
    "li",
    {
      "data-testid": `check-${check.name}`,
      "data-ok": check.ok ? "true" : "false",
      "data-severity": check.severity,
    },
    h("code", {}, check.name),
    " ",
    h("span", {}, check.detail || (check.ok ? "passed" : "failed")),
    warning && !check.ok ? h("span", { class: "muted" }, " (a warning: it does not block)") : null,
  );
}

function summary(report: ProbeReport): string {
  const failed = report.checks.filter((c) => !c.ok && c.severity === "error").length;
  if (report.ok) return "Every required check passed: fill in the settings below.";
  return `${failed} of ${report.checks.length} checks failed: fix them at the provider (or the URL), then test again.`;
}

function step(n: number, title: string, ...content: (Node | null)[]): HTMLElement {
  return h(
    "section",
    { class: "step", "aria-labelledby": `wizard-step-${n}` },
    h("h3", { id: `wizard-step-${n}`, tabindex: "-1" }, `${n}. ${title}`),
    ...content,
  );
}

export class ProviderWizard {
  readonly element: HTMLElement;
  private readonly issuer = textField("wizard-issuer", "wizard-issuer", "Issuer URL", {
    hint: "The provider's issuer, as in its /.well-known/openid-configuration.",
    placeholder: "https://login.example.com/realms/corp",
    type: "url",
  });
  private readonly testButton = h(
    "button",
    { type: "button", class: "primary", "data-testid": "wizard-test" },
    "Test",
  );
  private readonly checks = h("div", { class: "checks", "aria-live": "polite" });
  private readonly settings = h("div", { hidden: true });
  private readonly finish = h("div", { hidden: true });
  private fields: ProviderFields | null = null;
  private saved: Provider | null = null;
  private testedIssuer = "";

  constructor(private readonly ctx: AdminContext) {
    const cancel = h("button", { type: "button" }, "Back to the list");
    cancel.addEventListener("click", () => this.leave());
    this.testButton.addEventListener("click", () => void this.test());
    this.issuer.control.addEventListener("keydown", (event) => {
      // Enter tests, as the button does (and not twice while a test runs).
      if ((event as KeyboardEvent).key === "Enter" && !this.testButton.disabled) void this.test();
    });
    this.issuer.control.addEventListener("input", () => this.issuerChanged());
    this.element = h(
      "div",
      { class: "panel wizard", "data-testid": "provider-wizard" },
      h(
        "div",
        { class: "page-head" },
        h("h2", { tabindex: "-1" }, "Add an identity provider"),
        cancel,
      ),
      h(
        "p",
        { class: "lead" },
        "The provider is saved disabled: nobody can sign in with it until you enable it.",
      ),
      step(
        1,
        "Test the issuer",
        h("div", { class: "inline-form" }, this.issuer.element, this.testButton),
        this.checks,
      ),
      this.settings,
      this.finish,
    );
    queueMicrotask(() => this.issuer.control.focus());
  }

  private leave(): void {
    if (this.saved && !this.saved.enabled) {
      this.ctx.status.success(
        `${displayName(this.saved)} is saved, disabled: enable it from the list when ready.`,
      );
    }
    this.ctx.navigate({ view: "providers" });
  }

  private issuerChanged(): void {
    if (this.saved || this.testedIssuer === "") return;
    this.settings.hidden = this.issuer.value.trim() !== this.testedIssuer;
  }

  private async test(): Promise<void> {
    const issuer = this.issuer.value.trim();
    if (!issuer) {
      this.issuer.showProblem("Type the issuer URL first.");
      return this.ctx.status.problem("Type the issuer URL first.");
    }
    this.issuer.showProblem(null);
    const report = await runAction(
      this.ctx.status,
      {
        progress: `Testing ${issuer}…`,
        success: (r: ProbeReport) =>
          r.ok ? "The test passed." : "The test failed: see the checks.",
        buttons: [this.testButton],
      },
      () => this.ctx.api.testIssuer(issuer),
    );
    if (report === undefined) return;
    if (!report.ok) this.ctx.status.problem("The test failed: see the checks below.");
    replaceChildren(
      this.checks,
      h("p", { class: report.ok ? "result-head ok" : "result-head bad" }, summary(report)),
      h(
        "ul",
        { class: "check-list", "data-testid": "wizard-checks" },
        ...report.checks.map(checkItem),
      ),
    );
    if (report.ok && !this.saved) this.showSettings(issuer, report);
    else if (!this.saved) this.settings.hidden = true;
  }

  private showSettings(issuer: string, report: ProbeReport): void {
    const reuse = this.fields !== null && this.testedIssuer === issuer;
    this.testedIssuer = issuer;
    this.settings.hidden = false;
    if (reuse) return;
    const fields = new ProviderFields("wizard", defaultsFrom(issuer, report.discovered));
    this.fields = fields;
    const save = h(
      "button",
      { type: "button", class: "primary", "data-testid": "wizard-save" },
      "Save (disabled)",
    );
    save.addEventListener("click", () => void this.save(save, fields, issuer));
    const hint = h(
      "p",
      { class: "lead" },
      "Defaults come from the provider's discovery document; the client id and the audience come from its admin console.",
    );
    replaceChildren(
      this.settings,
      step(2, "Settings", hint, fields.element, h("div", { class: "actions" }, save)),
    );
  }

  private async save(
    button: HTMLButtonElement,
    fields: ProviderFields,
    issuer: string,
  ): Promise<void> {
    const values = fields.values();
    const problems = checkValues(values);
    if (problems.length > 0) {
      fields.showProblems(problems);
      return this.ctx.status.problem(problemsSentence(problems));
    }
    fields.showProblems([]);
    const provider = await runAction(
      this.ctx.status,
      {
        progress: "Saving…",
        success: (p: Provider) =>
          `Saved ${displayName(p)}, disabled. Preview a sign-in, then enable it.`,
        buttons: [button],
        overrides: {
          conflict: `A provider with the id "${values.id.trim()}" exists: choose another id.`,
        },
        failed: (error) => {
          if (error instanceof ApiError) fields.showProblems(error.fields);
        },
      },
      () => this.ctx.api.createProvider({ ...documentOf(values), issuer }),
    );
    if (provider === undefined) return;
    this.saved = provider;
    fields.setDisabled(true);
    this.issuer.control.disabled = true;
    this.testButton.disabled = true;
    button.hidden = true;
    this.showFinish(provider);
  }

  private showFinish(provider: Provider): void {
    const preview = new PreviewPanel(
      this.ctx,
      () => this.saved?.id ?? null,
      "wizard-preview",
      provider.issuer,
    );
    const enable = h(
      "button",
      { type: "button", class: "primary", "data-testid": "wizard-enable" },
      "Enable",
    );
    enable.addEventListener("click", () => void this.enable(enable));
    replaceChildren(
      this.finish,
      step(3, "Preview a sign-in", preview.element),
      step(
        4,
        "Enable",
        h(
          "p",
          {},
          `When the preview looks right, enable ${displayName(provider)}: its sign-in button appears at once.`,
        ),
        h("div", { class: "actions" }, enable),
      ),
    );
    this.finish.hidden = false;
    this.finish.querySelector<HTMLElement>("h3")?.focus();
  }

  private async enable(button: HTMLButtonElement): Promise<void> {
    const provider = this.saved;
    if (!provider) return;
    const enabled = await runAction(
      this.ctx.status,
      {
        progress: `Enabling ${displayName(provider)}…`,
        success: (p: Provider) => `Enabled ${displayName(p)}: its users can sign in now.`,
        buttons: [button],
        overrides: {
          conflict: `${displayName(provider)} was changed meanwhile: edit it from the list.`,
        },
      },
      () => this.ctx.api.updateProvider(provider.id, { enabled: true }, provider.version),
    );
    if (enabled === undefined) return;
    this.saved = enabled;
    this.ctx.navigate({ view: "providers" });
  }
}
