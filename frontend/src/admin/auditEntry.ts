// One audit entry: who did what to what, when, and (expandable) what changed.
import { h } from "../ui/dom";
import { diffDocuments, formatValue, pathText, type Change } from "./diff";
import { timeElement } from "./format";
import type { AuditEntry } from "./types";

export const ACTION_WORDS: Readonly<Record<string, string>> = {
  "provider.create": "added a provider",
  "provider.update": "changed a provider",
  "provider.delete": "deleted a provider",
  "provider.test": "tested an issuer",
  "room.create": "created a room",
  "room.update": "changed a room",
  "room.delete": "deleted a room",
  "user.block": "blocked a user",
  "user.unblock": "unblocked a user",
  "user.end_sessions": "ended a user's sessions",
  "admin.refused": "was refused the admin console",
  "logout.backchannel": "signed a user out (back-channel logout)",
};

const HIDDEN_DETAILS = new Set(["before", "after"]);

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** The nested objects of `value` without their leaves: what "absent" looks like member by
 * member, so a creation lists {"display": {"label": …}} as display.label, not as one blob. */
function hollow(value: unknown): unknown {
  if (!isObject(value)) return undefined;
  const members = Object.entries(value).filter(([, v]) => isObject(v));
  return Object.fromEntries(members.map(([k, v]) => [k, hollow(v)]));
}

/** The changes an entry records: a creation lists every member, a deletion too. */
export function entryChanges(details: Readonly<Record<string, unknown>>): Change[] {
  const before = details["before"];
  const after = details["after"];
  if (before == null && after == null) return [];
  const changes = diffDocuments(before ?? hollow(after) ?? null, after ?? hollow(before) ?? null);
  if (before != null && after != null) return changes;
  // A creation or deletion: every member, by name.
  return changes.sort((a, b) => pathText(a.path).localeCompare(pathText(b.path)));
}

function changeTable(changes: readonly Change[]): HTMLElement {
  const rows = changes.map((c) =>
    h(
      "tr",
      {},
      h("th", { scope: "row" }, pathText(c.path)),
      h("td", {}, h("del", {}, formatValue(c.before))),
      h("td", {}, h("ins", {}, formatValue(c.after))),
    ),
  );
  return h(
    "table",
    { class: "diff-table" },
    h(
      "thead",
      {},
      h(
        "tr",
        {},
        h("th", { scope: "col" }, "Field"),
        h("th", { scope: "col" }, "Before"),
        h("th", { scope: "col" }, "After"),
      ),
    ),
    h("tbody", {}, ...rows),
  );
}

function otherDetails(entry: AuditEntry): HTMLElement | null {
  const items = Object.entries(entry.details).filter(([key]) => !HIDDEN_DETAILS.has(key));
  if (items.length === 0) return null;
  return h(
    "dl",
    { class: "facts compact" },
    ...items.flatMap(([key, value]) => [h("dt", {}, key), h("dd", {}, formatValue(value))]),
  );
}

function actorText(entry: AuditEntry): string {
  const a = entry.actor;
  const name = a.name ?? a.subject ?? "unknown";
  return a.provider ? `${name} (${a.provider}/${a.subject ?? "?"})` : name;
}

export function auditRow(entry: AuditEntry): HTMLElement {
  const changes = entryChanges(entry.details);
  const summary = changes.length ? `Show changes (${changes.length})` : "Show details";
  const body = h(
    "details",
    { class: "audit-diff", "data-testid": `audit-diff-${entry.id}` },
    h("summary", {}, summary),
    changes.length
      ? changeTable(changes)
      : h("p", { class: "muted" }, "Nothing before or after: see the details."),
    otherDetails(entry),
    h(
      "p",
      { class: "row-meta hash" },
      `hash ${entry.hash.slice(0, 16)}… · previous ${entry.prev_hash.slice(0, 16)}…`,
    ),
  );
  return h(
    "li",
    { class: "audit-row", "data-testid": `audit-row-${entry.id}`, "data-action": entry.action },
    h(
      "div",
      { class: "audit-line" },
      h("span", { class: "audit-id" }, `#${entry.id}`),
      h("span", { class: "audit-time" }, timeElement(entry.created_at)),
      h("span", { class: "audit-actor" }, actorText(entry)),
      h(
        "span",
        { class: "audit-action" },
        h("code", {}, entry.action),
        " ",
        h("span", { class: "muted" }, ACTION_WORDS[entry.action] ?? ""),
      ),
      h("span", { class: "audit-target" }, entry.target),
    ),
    body,
  );
}
