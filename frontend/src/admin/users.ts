// The users page: search as you type, the matching users, and the chosen one's detail.
import { h, replaceChildren } from "../ui/dom";
import type { AdminContext, AdminView } from "./context";
import { textField } from "./fields";
import { timeElement } from "./format";
import type { Route } from "./route";
import { UserDetail } from "./userDetail";
import type { User } from "./types";

const SEARCH_DELAY_MS = 250;
const PAGE = 50;

function userRow(user: User, selected: boolean, open: () => void): HTMLElement {
  const button = h(
    "button",
    {
      type: "button",
      class: "user-row",
      "data-testid": `user-row-${user.id}`,
      "aria-current": selected ? "true" : undefined,
    },
    h(
      "span",
      { class: "user-name" },
      user.name || user.subject,
      user.blocked ? h("span", { class: "badge", "data-tone": "bad" }, "blocked") : null,
    ),
    h("span", { class: "row-meta" }, `${user.provider} · ${user.subject}`),
    h("span", { class: "row-meta" }, "last seen ", timeElement(user.last_seen_at)),
  );
  button.addEventListener("click", open);
  return h("li", {}, button);
}

export class UsersView implements AdminView {
  readonly element = h("section", { class: "admin-page", "data-testid": "users-view" });
  private readonly search = textField("user-search", "user-search", "Search by name or subject", {
    type: "search",
    placeholder: "Type a name…",
  });
  private readonly list = h("ul", { class: "user-list", "aria-label": "Users" });
  private readonly more = h("button", { type: "button", hidden: true }, "Show more");
  private readonly count = h("p", { class: "muted", "aria-live": "polite" });
  private readonly detailSlot = h("div", { class: "detail-slot" });
  private users: User[] = [];
  private nextAfter: number | null = null;
  private selected: number | null = null;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private asked = 0;
  private loaded = false;

  constructor(private readonly ctx: AdminContext) {
    this.search.control.addEventListener("input", () => this.schedule(SEARCH_DELAY_MS));
    this.search.control.addEventListener("keydown", (event) => {
      if ((event as KeyboardEvent).key === "Enter") this.schedule(0);
    });
    this.more.addEventListener("click", () => void this.fetch(true));
    replaceChildren(
      this.element,
      h("div", { class: "page-head" }, h("h2", { tabindex: "-1" }, "Users")),
      h(
        "p",
        { class: "lead" },
        "Everyone who has signed in. Blocking signs a user out everywhere at once.",
      ),
      h(
        "div",
        { class: "split" },
        h("div", { class: "user-browser" }, this.search.element, this.count, this.list, this.more),
        this.detailSlot,
      ),
    );
  }

  show(route: Route): void {
    if (!this.loaded) {
      this.loaded = true;
      void this.fetch(false);
    }
    const id = route.id === null ? null : Number(route.id);
    this.selected = id !== null && Number.isInteger(id) ? id : null;
    this.markSelected();
    replaceChildren(this.detailSlot);
    if (this.selected === null) {
      replaceChildren(
        this.detailSlot,
        h(
          "p",
          { class: "muted panel empty-detail" },
          "Choose a user to see their sessions and block or unblock them.",
        ),
      );
      return;
    }
    replaceChildren(
      this.detailSlot,
      new UserDetail(this.ctx, this.selected, (user) => this.updated(user)).element,
    );
  }

  dispose(): void {
    clearTimeout(this.timer);
  }

  private schedule(delay: number): void {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => void this.fetch(false), delay);
  }

  /** A new search (or the next page when `more`); answers to older searches are dropped. */
  private async fetch(more: boolean): Promise<void> {
    const asked = ++this.asked;
    const q = this.search.value.trim();
    this.more.disabled = true;
    try {
      const page = await this.ctx.api.users(q, more ? (this.nextAfter ?? 0) : 0, PAGE);
      if (asked !== this.asked) return;
      this.users = more ? [...this.users, ...page.users] : [...page.users];
      this.nextAfter = page.next_after;
      this.renderList();
    } catch (error) {
      if (asked === this.asked) this.ctx.status.failure(error);
    } finally {
      this.more.disabled = false;
    }
  }

  private renderList(): void {
    const rows = this.users.map((user) =>
      userRow(user, user.id === this.selected, () =>
        this.ctx.navigate({ view: "users", id: String(user.id) }),
      ),
    );
    replaceChildren(this.list, ...rows);
    const q = this.search.value.trim();
    this.count.textContent =
      this.users.length === 0
        ? q
          ? `Nobody matches "${q}".`
          : "Nobody has signed in yet."
        : `${this.users.length}${this.nextAfter !== null ? "+" : ""} ${this.users.length === 1 ? "user" : "users"}${q ? ` matching "${q}"` : ""}`;
    this.more.hidden = this.nextAfter === null;
  }

  /** Marks the chosen row without re-rendering the list, so the focus stays where it was. */
  private markSelected(): void {
    for (const button of this.list.querySelectorAll<HTMLElement>(".user-row")) {
      const chosen = button.dataset["testid"] === `user-row-${this.selected}`;
      if (chosen) button.setAttribute("aria-current", "true");
      else button.removeAttribute("aria-current");
    }
  }

  private updated(user: User): void {
    this.users = this.users.map((u) => (u.id === user.id ? user : u));
    this.renderList();
  }
}
