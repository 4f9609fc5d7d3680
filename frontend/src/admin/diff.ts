// What changed between two JSON documents (a provider before and after, an audit entry's details).

export interface Change {
  /** The member's path: ["display", "label"]. */
  readonly path: readonly string[];
  /** undefined: the member is absent on that side. */
  readonly before: unknown;
  readonly after: unknown;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** Deep equality of JSON values (member order does not matter, array order does). */
export function sameValue(a: unknown, b: unknown): boolean {
  if (Array.isArray(a) && Array.isArray(b)) {
    return a.length === b.length && a.every((item, i) => sameValue(item, b[i]));
  }
  if (isObject(a) && isObject(b)) {
    const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
    return [...keys].every((key) => sameValue(a[key], b[key]));
  }
  return a === b;
}

/** The changed leaves, objects walked member by member (arrays compared whole), in the order
 * the members appear (before's first, then the new ones of after). */
export function diffDocuments(before: unknown, after: unknown, path: string[] = []): Change[] {
  if (isObject(before) && isObject(after)) {
    const keys = [...new Set([...Object.keys(before), ...Object.keys(after)])];
    return keys.flatMap((key) => diffDocuments(before[key], after[key], [...path, key]));
  }
  if (sameValue(before, after)) return [];
  return [{ path, before, after }];
}

/** A JSON merge patch (RFC 7396) that turns "before" into "after"; absent becomes null. */
export function mergePatchOf(changes: readonly Change[]): Record<string, unknown> {
  const patch: Record<string, unknown> = {};
  for (const change of changes) {
    let target = patch;
    change.path.slice(0, -1).forEach((key) => {
      if (!isObject(target[key])) target[key] = {};
      target = target[key] as Record<string, unknown>;
    });
    const last = change.path.at(-1);
    if (last !== undefined) target[last] = change.after === undefined ? null : change.after;
  }
  return patch;
}

/** A value as an administrator reads it. */
export function formatValue(value: unknown): string {
  if (value === undefined) return "(not set)";
  if (value === null) return "(none)";
  if (value === "") return "(empty)";
  if (typeof value === "string") return value;
  if (Array.isArray(value)) {
    if (value.length === 0) return "(none)";
    if (value.every((v) => typeof v === "string")) return value.join(", ");
  }
  return JSON.stringify(value);
}

export function pathText(path: readonly string[]): string {
  return path.length === 0 ? "(value)" : path.join(".");
}
