// The cluster page: one process or a Redis cluster, this process's view of Redis, who is online,
// and every server process as it last wrote its presence.
import { h, replaceChildren } from "../ui/dom";
import type { AdminContext, AdminView } from "./context";
import { pair, timeElement } from "./format";
import { ageText, plural } from "./sentences";
import type { Cluster, ClusterMode, ClusterNode, ClusterStatus } from "./types";

const REFRESH_MS = 5_000;
const SHORT_ID = 8;
const HEADINGS = ["Node", "State", "Started", "Last heartbeat", "Sockets", "Users"];

// -- pure: the words and order the page shows (unit-tested) ----------------------------------

export function modeText(mode: ClusterMode): string {
  return mode === "redis" ? "Redis cluster" : "One process";
}

export const STATUS_TONE: Readonly<Record<ClusterStatus, string>> = {
  off: "muted",
  ok: "ok",
  degraded: "warn",
};

/** What this process's status means, in one sentence. */
export function statusDetail(status: ClusterStatus): string {
  if (status === "off") return "One process, no Redis: every chat socket is on this process.";
  if (status === "ok") return "This process hears its own heartbeat through Redis.";
  return (
    "This process cannot hear its own heartbeat through Redis, or Redis does not answer: " +
    "local delivery goes on, other nodes' messages are delivered again when it is back."
  );
}

/** "1 user, on this process", "4 users, on every node"; null: Redis did not answer. */
export function onlineText(online: number | null, mode: ClusterMode): string {
  if (online === null) return "unknown while Redis does not answer";
  return `${plural(online, "user")}, ${mode === "redis" ? "on every node" : "on this process"}`;
}

export function shortId(id: string): string {
  return id.slice(0, SHORT_ID);
}

export const DEAD_HINT = "no presence written for 3 intervals";

/** "2 nodes", "3 nodes, 1 dead". */
export function nodesSentence(nodes: readonly ClusterNode[]): string {
  const dead = nodes.filter((n) => !n.alive).length;
  const total = plural(nodes.length, "node");
  return dead === 0 ? total : `${total}, ${dead} dead`;
}

/** This process first, then the living, then the dead; the oldest first within each. */
export function sortNodes(nodes: readonly ClusterNode[]): ClusterNode[] {
  const rank = (n: ClusterNode): number => (n.here ? 0 : n.alive ? 1 : 2);
  return [...nodes].sort(
    (a, b) =>
      rank(a) - rank(b) || a.started_at.localeCompare(b.started_at) || a.id.localeCompare(b.id),
  );
}

/** Seconds from an ISO time to `now` (ms), or null when the time does not parse. */
export function secondsSince(iso: string, now: number): number | null {
  const then = Date.parse(iso);
  return Number.isNaN(then) ? null : (now - then) / 1000;
}

// -- the DOM ---------------------------------------------------------------------------------

/** "42 s ago" in a <time>, the full date and time in its title. */
function ago(iso: string, now: number): HTMLElement {
  const element = timeElement(iso);
  const seconds = secondsSince(iso, now);
  if (seconds === null) return element;
  element.title = element.textContent ?? "";
  element.textContent = ageText(seconds);
  return element;
}

function cell(label: string, ...children: (Node | string | null)[]): HTMLTableCellElement {
  return h("td", { "data-label": label }, ...children);
}

function nodeRow(node: ClusterNode, now: number): HTMLElement {
  const marker = node.here
    ? h("span", { class: "badge", "data-testid": "cluster-node-here" }, "this process")
    : null;
  const state = node.alive
    ? h("span", { class: "badge", "data-tone": "ok" }, "alive")
    : h("span", { class: "badge", "data-tone": "bad" }, "dead");
  return h(
    "tr",
    { "data-testid": `cluster-node-${node.id}`, "data-alive": String(node.alive) },
    cell("Node", h("code", { title: node.id }, shortId(node.id)), " ", marker),
    cell(
      "State",
      h("span", { "data-testid": "cluster-node-state" }, state),
      node.alive ? null : h("span", { class: "row-meta" }, DEAD_HINT),
    ),
    cell("Started", ago(node.started_at, now)),
    cell("Last heartbeat", ago(node.heartbeat_at, now)),
    cell("Sockets", h("span", { "data-testid": "cluster-node-sockets" }, String(node.sockets))),
    cell("Users", h("span", { "data-testid": "cluster-node-users" }, String(node.users))),
  );
}

function placeholderRow(text: string): HTMLElement {
  return h("tr", {}, h("td", { colspan: String(HEADINGS.length), class: "empty" }, text));
}

export class ClusterView implements AdminView {
  readonly element = h("section", { class: "admin-page", "data-testid": "cluster-view" });
  private readonly facts = h("dl", { class: "facts", "data-testid": "cluster-facts" });
  private readonly count = h("p", { class: "muted", "aria-live": "polite" });
  private readonly body = h("tbody", {});
  private readonly updated = h("span", { class: "muted" });
  private timer: ReturnType<typeof setInterval> | undefined;
  private asked = 0;

  constructor(private readonly ctx: AdminContext) {
    const refresh = h("button", { type: "button", "data-testid": "cluster-refresh" }, "Refresh");
    refresh.addEventListener("click", () => void this.load(true));
    const headings = HEADINGS.map((text) => h("th", { scope: "col" }, text));
    replaceChildren(
      this.element,
      h(
        "div",
        { class: "page-head" },
        h("h2", { tabindex: "-1" }, "Cluster"),
        h("div", { class: "toolbar" }, this.updated, refresh),
      ),
      h(
        "p",
        { class: "lead" },
        "The server processes of this chat, as each last wrote its presence, and who is online.",
      ),
      h("div", { class: "panel" }, this.facts),
      this.count,
      h(
        "div",
        { class: "table-wrap" },
        h(
          "table",
          { class: "data-table cluster-table" },
          h("thead", {}, h("tr", {}, ...headings)),
          this.body,
        ),
      ),
    );
    replaceChildren(this.facts, ...pair("Mode", h("span", { class: "muted" }, "Loading…")));
    replaceChildren(this.body, placeholderRow("Loading the cluster…"));
  }

  show(): void {
    this.stopTimer();
    void this.load(false);
    this.timer = setInterval(() => {
      if (document.visibilityState === "visible") void this.load(false);
    }, REFRESH_MS);
  }

  dispose(): void {
    this.stopTimer();
    this.asked += 1; // an answer still on its way is not shown
  }

  private stopTimer(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  /** Reloads; `announce` says so in the status line (the timer's reloads are quiet). When
   * loads overlap, only the one asked last is shown. */
  private async load(announce: boolean): Promise<void> {
    const asked = ++this.asked;
    try {
      if (announce) this.ctx.status.progress("Loading the cluster…");
      const cluster = await this.ctx.api.cluster();
      if (asked !== this.asked) return;
      this.render(cluster);
      if (announce) this.ctx.status.success(`${nodesSentence(cluster.nodes)} loaded.`);
    } catch (error) {
      if (asked === this.asked) this.ctx.status.failure(error);
    }
  }

  private render(cluster: Cluster): void {
    const status = h(
      "span",
      { class: "badge", "data-tone": STATUS_TONE[cluster.status], "data-testid": "cluster-status" },
      cluster.status,
    );
    replaceChildren(
      this.facts,
      ...pair("Mode", h("span", { "data-testid": "cluster-mode" }, modeText(cluster.mode))),
      ...pair(
        "This process",
        status,
        h(
          "span",
          { class: "row-meta", "data-testid": "cluster-status-detail" },
          statusDetail(cluster.status),
        ),
      ),
      ...pair(
        "Online users",
        h(
          "span",
          { "data-testid": "cluster-online" },
          onlineText(cluster.online_users, cluster.mode),
        ),
      ),
    );
    const now = Date.now();
    const rows = sortNodes(cluster.nodes).map((node) => nodeRow(node, now));
    replaceChildren(this.body, ...rows);
    if (rows.length === 0)
      replaceChildren(this.body, placeholderRow("No process wrote its presence yet."));
    this.count.textContent = nodesSentence(cluster.nodes);
    this.updated.textContent = `Updated ${new Date().toLocaleTimeString()}`;
  }
}
