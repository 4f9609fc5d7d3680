// The providers page: the list with live state, and (by route) the add wizard or the editor.
import { h, replaceChildren } from "../ui/dom";
import type { AdminContext, AdminView } from "./context";
import { ProviderEditor } from "./editor";
import { ageLine, displayName, providerRow, rowSignature } from "./providerRow";
import type { Route } from "./route";
import { liveSessionsSentence, plural } from "./sentences";
import { runAction } from "./status";
import type { Provider } from "./types";
import { ProviderWizard } from "./wizard";

const REFRESH_MS = 5_000;
const HEADINGS = ["Provider", "State", "Keys", "Connects (1 h)", "Live sessions", "Order", ""];

export class ProvidersView implements AdminView {
  readonly element = h("section", { class: "admin-page", "data-testid": "providers-view" });
  private readonly body = h("tbody", {});
  private readonly updated = h("span", { class: "muted" });
  private readonly list: HTMLElement;
  private readonly slot = h("div", {});
  private timer: ReturnType<typeof setInterval> | undefined;
  private loading = false;
  private again = false;
  private readonly signatures = new WeakMap<Element, string>();
  /** The button to focus when the list shows again (the one that opened the wizard or editor). */
  private returnFocus: string | null = null;

  constructor(private readonly ctx: AdminContext) {
    const add = h(
      "button",
      { type: "button", class: "primary", "data-testid": "provider-add" },
      "Add provider",
    );
    const refresh = h("button", { type: "button" }, "Refresh");
    add.addEventListener("click", () => ctx.navigate({ view: "providers", id: "new" }));
    refresh.addEventListener("click", () => void this.load(true));
    const headings = HEADINGS.map((text) => h("th", { scope: "col" }, text));
    this.list = h(
      "div",
      {},
      h(
        "div",
        { class: "page-head" },
        h("h2", { tabindex: "-1" }, "Identity providers"),
        h("div", { class: "toolbar" }, this.updated, refresh, add),
      ),
      h(
        "p",
        { class: "lead" },
        "Who may sign in. Changes apply at once, on every server, without a restart.",
      ),
      h(
        "div",
        { class: "table-wrap" },
        h(
          "table",
          { class: "data-table providers-table" },
          h("thead", {}, h("tr", {}, ...headings)),
          this.body,
        ),
      ),
    );
    replaceChildren(this.element, this.list, this.slot);
    replaceChildren(this.body, placeholderRow("Loading providers…"));
  }

  show(route: Route): void {
    this.stopTimer();
    if (route.id === "new" && route.action === null) {
      this.returnFocus = "provider-add";
      return this.open(new ProviderWizard(this.ctx).element);
    }
    if (route.id !== null) {
      this.returnFocus = `provider-edit-${route.id}`;
      return this.open(new ProviderEditor(this.ctx, route.id).element);
    }
    // Back from the wizard or the editor: the rows shown are older than the change just made.
    if (this.list.hidden) this.body.setAttribute("aria-busy", "true");
    this.list.hidden = false;
    replaceChildren(this.slot);
    void this.load(false);
    this.timer = setInterval(() => {
      if (document.visibilityState === "visible") void this.load(false);
    }, REFRESH_MS);
  }

  private open(panel: HTMLElement): void {
    this.list.hidden = true;
    replaceChildren(this.slot, panel);
  }

  dispose(): void {
    this.stopTimer();
  }

  private stopTimer(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  /** Reloads the list; `announce` says so in the status line (the timer's reloads are quiet).
   * A reload asked for while one runs follows it, so the last answer is never older than the
   * last change. */
  private async load(announce: boolean): Promise<void> {
    if (this.loading) {
      this.again = true;
      return;
    }
    this.loading = true;
    try {
      if (announce) this.ctx.status.progress("Loading providers…");
      const providers = await this.ctx.api.providers();
      this.render(providers);
      if (announce) this.ctx.status.success(`${plural(providers.length, "provider")} loaded.`);
    } catch (error) {
      this.ctx.status.failure(error);
    } finally {
      this.loading = false;
    }
    if (this.again) {
      this.again = false;
      return this.load(false);
    }
    this.body.removeAttribute("aria-busy");
  }

  private row(provider: Provider): HTMLElement {
    const row = providerRow(provider, provider.id === this.ctx.me.provider, {
      toggle: (p, button) => void this.toggle(p, button),
      edit: (p) => this.ctx.navigate({ view: "providers", id: p.id, action: "edit" }),
      remove: (p, button) => void this.remove(p, button),
    });
    this.signatures.set(row, rowSignature(provider));
    return row;
  }

  /** Rows whose content is unchanged stay (only their key age is updated), so a timer reload
   * never swallows a click or moves the focus. */
  private render(providers: readonly Provider[]): void {
    const sorted = [...providers].sort(
      (a, b) => a.display.order - b.display.order || a.id.localeCompare(b.id),
    );
    const old = new Map(
      [...this.body.children].map((row) => [row.getAttribute("data-testid"), row]),
    );
    const rows = sorted.map((provider) => {
      const kept = old.get(`provider-row-${provider.id}`);
      if (!kept || this.signatures.get(kept) !== rowSignature(provider)) return this.row(provider);
      const age = kept.querySelector(".age");
      if (age) age.textContent = ageLine(provider);
      return kept;
    });
    if (
      rows.some((row, i) => this.body.children[i] !== row) ||
      rows.length !== this.body.children.length
    ) {
      const focused = this.returnFocus ?? document.activeElement?.getAttribute("data-testid");
      replaceChildren(this.body, ...rows);
      if (rows.length === 0) replaceChildren(this.body, emptyRow());
      if (focused) this.element.querySelector<HTMLElement>(`[data-testid="${focused}"]`)?.focus();
    } else if (this.returnFocus) {
      this.element.querySelector<HTMLElement>(`[data-testid="${this.returnFocus}"]`)?.focus();
    }
    this.returnFocus = null;
    this.updated.textContent = `Updated ${new Date().toLocaleTimeString()}`;
  }

  private async toggle(provider: Provider, button: HTMLButtonElement): Promise<void> {
    const enable = !provider.enabled;
    const name = displayName(provider);
    const live = provider.status.live_sessions ?? 0;
    await runAction(
      this.ctx.status,
      {
        progress: enable ? `Enabling ${name}…` : `Disabling ${name}…`,
        success: () =>
          enable
            ? `Enabled ${name}: its users can sign in now.`
            : `Disabled ${name}: its users are signed out (${plural(live, "live session")}) and cannot sign in with it.`,
        buttons: [button],
        overrides: { conflict: `${name} was changed meanwhile: the list is reloaded, try again.` },
      },
      () => this.ctx.api.updateProvider(provider.id, { enabled: enable }, provider.version),
    );
    await this.load(false);
  }

  private async remove(provider: Provider, button: HTMLButtonElement): Promise<void> {
    const name = displayName(provider);
    const live = provider.status.live_sessions ?? 0;
    const yes = await this.ctx.confirm({
      title: `Delete ${name}?`,
      lines: [
        live === 0
          ? `${liveSessionsSentence(0)}: nobody is signed in with ${name} right now.`
          : `${liveSessionsSentence(live)}: everyone signed in with ${name} is signed out now.`,
        "Its settings are removed and its users can no longer sign in. This cannot be undone.",
      ],
      confirm: "Delete provider",
    });
    if (!yes) return this.ctx.status.success(`${name} was not deleted.`);
    await runAction(
      this.ctx.status,
      {
        progress: `Deleting ${name}…`,
        success: (ended: number) => `Deleted ${name}; ${plural(ended, "live session")} ended.`,
        buttons: [button],
      },
      () => this.ctx.api.deleteProvider(provider.id),
    );
    await this.load(false);
  }
}

function placeholderRow(text: string): HTMLElement {
  return h("tr", {}, h("td", { colspan: "7", class: "empty" }, text));
}

function emptyRow(): HTMLElement {
  return placeholderRow("No providers yet: add one.");
}
