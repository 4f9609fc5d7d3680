// Times and small pieces of text for display.
import { h } from "../ui/dom";

const dateTime = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "medium" });

/** A <time> element showing an ISO time in the admin's locale; null: "never". */
export function timeElement(iso: string | null): HTMLElement {
  if (iso === null) return h("span", { class: "muted" }, "never");
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return h("span", {}, iso);
  return h("time", { datetime: iso }, dateTime.format(date));
}

/** Group names as small tags, or a muted word when there are none. */
export function tagList(items: readonly string[], empty: string): HTMLElement {
  if (items.length === 0) return h("span", { class: "muted" }, empty);
  return h("ul", { class: "tags" }, ...items.map((item) => h("li", { class: "tag" }, item)));
}

/** A labelled value of a description list. */
export function pair(term: string, ...value: (Node | string)[]): HTMLElement[] {
  return [h("dt", {}, term), h("dd", {}, ...value)];
}

/** A datetime-local value ("2025-01-02T10:30") as an ISO time in UTC, or "" if empty/invalid. */
export function localToIso(value: string): string {
  if (!value) return "";
  const date = new Date(value);
  return Number.isNaN(date.getTime()) ? "" : date.toISOString();
}
