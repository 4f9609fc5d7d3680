// One user: identity, groups, last seen, live sessions; block, unblock, end sessions.
import { h, replaceChildren } from "../ui/dom";
import type { AdminContext } from "./context";
import { pair, tagList, timeElement } from "./format";
import { liveSessionsSentence, plural } from "./sentences";
import { runAction } from "./status";
import type { User } from "./types";

function liveText(user: User): string {
  const live = user.live_sessions;
  if (!live || live.total === 0) return "none";
  return `${live.total} (on ${plural(live.processes, "server")})`;
}

export class UserDetail {
  readonly element = h("section", {
    class: "panel user-detail",
    "data-testid": "user-detail",
    "aria-labelledby": "user-detail-title",
    "aria-busy": "true",
  });

  constructor(
    private readonly ctx: AdminContext,
    private readonly id: number,
    private readonly changed: (user: User) => void,
  ) {
    replaceChildren(this.element, h("p", { class: "muted" }, "Loading…"));
    void this.load();
  }

  private async load(): Promise<void> {
    try {
      this.render(await this.ctx.api.user(this.id));
    } catch (error) {
      this.ctx.status.failure(error);
      replaceChildren(this.element, h("p", { class: "muted" }, "This user could not be loaded."));
    }
    this.element.removeAttribute("aria-busy");
  }

  private button(testid: string, text: string, tone = ""): HTMLButtonElement {
    return h("button", { type: "button", "data-testid": testid, class: tone }, text);
  }

  private render(user: User): void {
    const block = this.button("user-block", "Block", "danger");
    const unblock = this.button("user-unblock", "Unblock");
    const end = this.button("user-end-sessions", "End sessions");
    block.hidden = user.blocked;
    unblock.hidden = !user.blocked;
    block.addEventListener("click", () => void this.block(user, block));
    unblock.addEventListener("click", () => void this.unblock(user, unblock));
    end.addEventListener("click", () => void this.endSessions(user, end));
    const badge = user.blocked
      ? h("span", { class: "badge", "data-tone": "bad" }, "blocked")
      : null;
    replaceChildren(
      this.element,
      h(
        "div",
        { class: "page-head" },
        h("h3", { id: "user-detail-title", tabindex: "-1" }, user.name || user.subject),
        badge,
      ),
      h(
        "dl",
        { class: "facts" },
        ...pair("Subject", h("code", {}, user.subject)),
        ...pair("Provider", `${user.provider} (${user.issuer})`),
        ...pair("Groups", tagList(user.groups, "none")),
        ...pair("First seen", timeElement(user.created_at)),
        ...pair("Last seen", timeElement(user.last_seen_at)),
        ...pair(
          "Live sessions",
          h("span", { "data-testid": "user-live-sessions" }, liveText(user)),
        ),
        ...(user.blocked ? pair("Blocked since", timeElement(user.blocked_at)) : []),
      ),
      h("div", { class: "actions" }, end, unblock, block),
    );
  }

  private live(user: User): number {
    return user.live_sessions?.total ?? 0;
  }

  private async block(user: User, button: HTMLButtonElement): Promise<void> {
    const name = user.name || user.subject;
    const yes = await this.ctx.confirm({
      title: `Block ${name}?`,
      lines: [
        `${liveSessionsSentence(this.live(user))}: ${name} is signed out everywhere now.`,
        "They cannot sign in or use the admin API until they are unblocked.",
      ],
      confirm: "Block",
    });
    if (!yes) return this.ctx.status.success(`${name} was not blocked.`);
    await this.act(button, `Blocking ${name}…`, async () => {
      const result = await this.ctx.api.setBlocked(user.id, true);
      return `Blocked ${name}; ${plural(result.ended_sessions, "live session")} ended.`;
    });
  }

  private async unblock(user: User, button: HTMLButtonElement): Promise<void> {
    const name = user.name || user.subject;
    await this.act(button, `Unblocking ${name}…`, async () => {
      await this.ctx.api.setBlocked(user.id, false);
      return `Unblocked ${name}: they can sign in again.`;
    });
  }

  private async endSessions(user: User, button: HTMLButtonElement): Promise<void> {
    const name = user.name || user.subject;
    const yes = await this.ctx.confirm({
      title: `End ${name}'s sessions?`,
      lines: [
        `${liveSessionsSentence(this.live(user))}.`,
        "Every token issued to them until now stops working; they can sign in again.",
      ],
      confirm: "End sessions",
    });
    if (!yes) return this.ctx.status.success(`${name}'s sessions were not ended.`);
    await this.act(button, `Ending ${name}'s sessions…`, async () => {
      const ended = await this.ctx.api.endSessions(user.id);
      return `Ended ${name}'s sessions (${plural(ended, "live session")} here).`;
    });
  }

  /** Runs one action, then reloads the user (and tells the list). */
  private async act(
    button: HTMLButtonElement,
    progress: string,
    work: () => Promise<string>,
  ): Promise<void> {
    const text = await runAction(
      this.ctx.status,
      { progress, success: (t: string) => t, buttons: [button] },
      work,
    );
    try {
      const fresh = await this.ctx.api.user(this.id);
      this.render(fresh);
      this.changed(fresh);
      this.element.querySelector<HTMLElement>("h3")?.focus();
    } catch (error) {
      if (text !== undefined) this.ctx.status.failure(error);
    }
  }
}
