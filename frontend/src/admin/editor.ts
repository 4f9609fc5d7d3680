// Edit a provider: the same fields, the list of what changed, then a save that sends If-Match.
import { h, replaceChildren } from "../ui/dom";
import type { AdminContext } from "./context";
import { diffDocuments, formatValue, mergePatchOf, pathText, type Change } from "./diff";
import { ApiError, problemsSentence } from "./errors";
import { timeElement } from "./format";
import { PreviewPanel } from "./preview";
import { ProviderFields } from "./providerFields";
import { displayName } from "./providerRow";
import { checkValues, documentOf, valuesOf, type ProviderValues } from "./providerValues";
import { runAction } from "./status";
import type { Provider } from "./types";

function changeItem(change: Change): HTMLElement {
  return h(
    "li",
    {},
    h("code", {}, pathText(change.path)),
    ": ",
    h("del", {}, formatValue(change.before)),
    " → ",
    h("ins", {}, formatValue(change.after)),
  );
}

export class ProviderEditor {
  readonly element = h("div", {
    class: "panel editor",
    "data-testid": "provider-editor",
    "aria-busy": "true",
  });
  private readonly diff = h("ul", {
    class: "diff-list",
    "data-testid": "edit-diff",
    "aria-live": "polite",
  });
  private readonly save = h(
    "button",
    { type: "button", class: "primary", "data-testid": "edit-save", disabled: true },
    "Save changes",
  );
  private readonly reload = h(
    "button",
    { type: "button", "data-testid": "edit-reload", hidden: true },
    "Reload the current version",
  );
  private readonly meta = h("p", { class: "row-meta" });
  private base: Provider | null = null;
  private fields: ProviderFields | null = null;
  /** A save was refused as stale: saving again needs a reload first. */
  private stale = false;

  constructor(
    private readonly ctx: AdminContext,
    private readonly id: string,
  ) {
    this.save.addEventListener("click", () => void this.submit());
    this.reload.addEventListener("click", () => void this.load(true));
    replaceChildren(this.element, h("p", { class: "muted" }, `Loading ${id}…`));
    void this.load(false);
  }

  private async load(keepEdits: boolean): Promise<void> {
    const provider = await runAction(
      this.ctx.status,
      {
        progress: `Loading ${this.id}…`,
        success: (p: Provider) =>
          keepEdits
            ? `Loaded version ${p.version} of ${displayName(p)}: your edits are kept on top of it. Check what changes, then save.`
            : "",
        buttons: [this.reload],
      },
      () => this.ctx.api.provider(this.id),
    );
    if (provider === undefined) return;
    const previous = this.base;
    this.base = provider;
    this.stale = false;
    this.reload.hidden = true;
    if (!keepEdits || !this.fields || !previous) this.build(provider);
    else this.rebase(previous, provider, this.fields);
    this.describe(provider);
    this.refreshDiff();
  }

  /** Keeps the admin's own edits on top of the new version; every other field takes its value. */
  private rebase(previous: Provider, fresh: Provider, fields: ProviderFields): void {
    const before = valuesOf(previous);
    const mine = fields.values();
    const merged: Record<string, string> = { ...valuesOf(fresh) };
    for (const key of Object.keys(mine) as (keyof ProviderValues)[]) {
      if (mine[key] !== before[key]) merged[key] = mine[key];
    }
    fields.setValues(merged as unknown as ProviderValues);
  }

  private build(provider: Provider): void {
    const fields = new ProviderFields("edit", valuesOf(provider), () => this.refreshDiff());
    fields.lockId();
    this.fields = fields;
    const cancel = h("button", { type: "button" }, "Cancel");
    cancel.addEventListener("click", () => this.ctx.navigate({ view: "providers" }));
    const preview = new PreviewPanel(this.ctx, () => this.id, "edit-preview", provider.issuer);
    replaceChildren(
      this.element,
      h(
        "div",
        { class: "page-head" },
        h("h2", { tabindex: "-1" }, `Edit ${displayName(provider)}`),
        cancel,
      ),
      this.meta,
      fields.element,
      h(
        "section",
        { class: "changes", "aria-labelledby": "edit-diff-title" },
        h("h3", { id: "edit-diff-title" }, "What changes"),
        this.diff,
      ),
      h("div", { class: "actions" }, this.reload, this.save),
      h(
        "details",
        { class: "preview-details" },
        h("summary", {}, "Preview a sign-in with the saved settings"),
        preview.element,
      ),
    );
    this.element.removeAttribute("aria-busy");
    this.element.querySelector<HTMLElement>("h2")?.focus();
  }

  private describe(provider: Provider): void {
    const source = provider.source === "file" ? "from the configuration file" : "added here";
    replaceChildren(
      this.meta,
      `${provider.issuer} · ${source} · version ${provider.version} · updated `,
      timeElement(provider.updated_at),
    );
  }

  private changes(): Change[] {
    if (!this.base || !this.fields) return [];
    return diffDocuments(documentOf(valuesOf(this.base)), documentOf(this.fields.values()));
  }

  private refreshDiff(): void {
    const changes = this.changes();
    replaceChildren(this.diff, ...changes.map(changeItem));
    if (changes.length === 0)
      replaceChildren(this.diff, h("li", { class: "muted" }, "Nothing changed yet."));
    this.save.disabled = changes.length === 0 || this.stale;
  }

  private async submit(): Promise<void> {
    const base = this.base;
    const fields = this.fields;
    const changes = this.changes();
    if (!base || !fields || changes.length === 0) return;
    const problems = checkValues(fields.values());
    if (problems.length > 0) {
      fields.showProblems(problems);
      return this.ctx.status.problem(problemsSentence(problems));
    }
    fields.showProblems([]);
    const saved = await runAction(
      this.ctx.status,
      {
        progress: "Saving…",
        success: (p: Provider) =>
          `Saved ${displayName(p)} (version ${p.version}): ${changes.length} ${changes.length === 1 ? "change applies" : "changes apply"} now.`,
        buttons: [this.save],
        overrides: {
          conflict: `${displayName(base)} was changed meanwhile: reload to see the current version, then save again.`,
        },
        failed: (error) => this.failed(error, fields),
      },
      () => this.ctx.api.updateProvider(base.id, mergePatchOf(changes), base.version),
    );
    if (saved !== undefined) this.ctx.navigate({ view: "providers" });
    else this.refreshDiff();
  }

  private failed(error: unknown, fields: ProviderFields): void {
    if (!(error instanceof ApiError)) return;
    fields.showProblems(error.fields);
    if (error.code === "conflict") {
      this.stale = true;
      this.reload.hidden = false;
      this.reload.focus();
    }
  }
}
