// The audit page: the chain's verification, filters (action, actor, time), newest entries first.
import { h, replaceChildren } from "../ui/dom";
import { ACTION_WORDS, auditRow } from "./auditEntry";
import type { AdminContext, AdminView } from "./context";
import { textField, type Field } from "./fields";
import { localToIso } from "./format";
import type { Route } from "./route";
import { chainDetail, chainSentence } from "./sentences";
import type { AuditEntry, AuditFilter } from "./types";

/** Entries are read in windows of ids, newest first: the API pages forward from `after`. */
const WINDOW = 200;
const MIN_SHOWN = 25;
const MAX_WINDOWS = 25;
const FILTER_DELAY_MS = 400;
const FILTERS = ["action", "actor", "since", "until"] as const;
type FilterKey = (typeof FILTERS)[number];

function datalist(
  id: string,
  options: readonly (readonly [string, string])[],
): HTMLDataListElement {
  return h("datalist", { id }, ...options.map(([value, label]) => h("option", { value, label })));
}

export class AuditView implements AdminView {
  readonly element = h("section", { class: "admin-page", "data-testid": "audit-view" });
  private readonly chain = h("p", {
    class: "chain-status",
    "data-testid": "audit-chain-status",
    role: "status",
  });
  private readonly chainInfo = h("p", { class: "field-hint" });
  private readonly verify = h("button", { type: "button" }, "Verify again");
  private readonly list = h("ol", {
    class: "audit-list",
    "aria-label": "Audit entries, newest first",
  });
  private readonly older = h("button", { type: "button", hidden: true }, "Show older entries");
  private readonly count = h("p", { class: "muted", "aria-live": "polite" });
  private readonly actors = datalist("audit-actors", []);
  private readonly fields: Record<FilterKey, Field>;
  private upper = 0;
  private shown = 0;
  private generation = 0;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private readonly known = new Map<string, string>();

  constructor(private readonly ctx: AdminContext) {
    this.fields = {
      action: textField("audit-filter-action", "audit-filter-action", "Action", {
        placeholder: "any",
      }),
      actor: textField("audit-filter-actor", "audit-filter-actor", "Actor (subject)", {
        placeholder: "anyone",
      }),
      since: textField("audit-filter-since", "audit-filter-since", "Since", {
        type: "datetime-local",
      }),
      until: textField("audit-filter-until", "audit-filter-until", "Until", {
        type: "datetime-local",
      }),
    };
    this.fields.action.control.setAttribute("list", "audit-actions");
    this.fields.actor.control.setAttribute("list", "audit-actors");
    for (const key of FILTERS) {
      const control = this.fields[key].control;
      control.addEventListener("input", () =>
        this.filtersChanged(control.type === "datetime-local" ? 0 : FILTER_DELAY_MS),
      );
      control.addEventListener("change", () => this.filtersChanged(0));
    }
    this.verify.addEventListener("click", () => void this.verifyChain());
    this.older.addEventListener("click", () => void this.loadOlder(this.generation));
    this.element.append(...this.layout());
  }

  private layout(): HTMLElement[] {
    const clear = h("button", { type: "button" }, "Clear filters");
    const refresh = h("button", { type: "button" }, "Refresh");
    clear.addEventListener("click", () => {
      for (const key of FILTERS) this.fields[key].value = "";
      this.filtersChanged(0);
    });
    refresh.addEventListener("click", () => void this.reload());
    const actions = datalist("audit-actions", Object.entries(ACTION_WORDS));
    return [
      h(
        "div",
        { class: "page-head" },
        h("h2", { tabindex: "-1" }, "Audit trail"),
        h("div", { class: "toolbar" }, refresh),
      ),
      h("div", { class: "panel chain" }, this.chain, this.chainInfo, this.verify),
      h(
        "form",
        {
          class: "filters",
          role: "search",
          "aria-label": "Filter the audit trail",
          novalidate: true,
        },
        ...FILTERS.map((key) => this.fields[key].element),
        h("div", { class: "filter-actions" }, clear),
        actions,
        this.actors,
      ),
      this.count,
      this.list,
      this.older,
    ];
  }

  show(route: Route): void {
    // Deep links (#/audit?actor=SUBJECT) preset the text filters.
    for (const key of ["action", "actor"] as const) {
      const wanted = route.params[key];
      if (wanted) this.fields[key].value = wanted;
    }
    void this.verifyChain();
    void this.reload();
  }

  dispose(): void {
    clearTimeout(this.timer);
    this.generation++;
  }

  private filter(): AuditFilter {
    return {
      action: this.fields.action.value.trim() || undefined,
      actor: this.fields.actor.value.trim() || undefined,
      since: localToIso(this.fields.since.value) || undefined,
      until: localToIso(this.fields.until.value) || undefined,
    };
  }

  private filtersChanged(delay: number): void {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => void this.reload(), delay);
  }

  private async verifyChain(): Promise<void> {
    this.verify.disabled = true;
    this.chain.dataset["state"] = "progress";
    this.chain.textContent = "Verifying the chain…";
    try {
      const report = await this.ctx.api.verifyAudit();
      this.chain.dataset["state"] = report.ok ? "ok" : "bad";
      this.chain.textContent = chainSentence(report);
      this.chainInfo.textContent = `${chainDetail(report)} Verified at ${new Date().toLocaleTimeString()}.`;
    } catch (error) {
      this.chain.dataset["state"] = "bad";
      this.chain.textContent = "The chain could not be verified";
      this.ctx.status.failure(error);
    } finally {
      this.verify.disabled = false;
    }
  }

  /** From the newest entry down, with the current filters. */
  private async reload(): Promise<void> {
    const generation = ++this.generation;
    this.count.textContent = "Loading…";
    try {
      const head = await this.ctx.api.auditHead();
      if (generation !== this.generation) return;
      this.upper = head.id;
      this.shown = 0;
      replaceChildren(this.list);
      await this.loadOlder(generation);
    } catch (error) {
      this.ctx.status.failure(error);
      this.count.textContent = "";
    }
  }

  /** Reads windows of older ids until enough entries match (or the first entry is reached). */
  private async loadOlder(generation: number): Promise<void> {
    this.older.disabled = true;
    try {
      let found = 0;
      for (let round = 0; round < MAX_WINDOWS && this.upper > 0 && found < MIN_SHOWN; round++) {
        const lower = Math.max(0, this.upper - WINDOW);
        const page = await this.ctx.api.audit(this.filter(), lower, WINDOW);
        if (generation !== this.generation) return;
        const entries = page.entries.filter((e) => e.id <= this.upper).reverse();
        this.list.append(...entries.map(auditRow));
        this.remember(entries);
        found += entries.length;
        this.upper = lower;
      }
      this.shown += found;
      this.describe();
    } catch (error) {
      this.ctx.status.failure(error);
    } finally {
      this.older.disabled = false;
    }
  }

  private remember(entries: readonly AuditEntry[]): void {
    for (const e of entries) {
      if (e.actor.subject && !this.known.has(e.actor.subject))
        this.known.set(e.actor.subject, e.actor.name ?? "");
    }
    replaceChildren(
      this.actors,
      ...[...this.known].map(([value, label]) => h("option", { value, label })),
    );
  }

  private describe(): void {
    const filtered = Object.values(this.filter()).some((v) => v !== undefined);
    const n = this.shown;
    const what = `${n} ${n === 1 ? "entry" : "entries"}${filtered ? " matching the filters" : ""}`;
    this.count.textContent =
      n === 0
        ? filtered
          ? "No entry matches the filters."
          : "No entries yet."
        : `${what}, newest first${this.upper > 0 ? "" : " (all of them)"}.`;
    this.older.hidden = this.upper === 0;
  }
}
