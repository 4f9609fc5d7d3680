// The console's own routes live in the fragment (/admin#/users/42), so the server serves one path.

export const VIEWS = ["providers", "rooms", "users", "audit", "cluster"] as const;
export type View = (typeof VIEWS)[number];

export interface Route {
  readonly view: View;
  /** The thing the route names: a provider id ("new" for the wizard), a room slug, a user id. */
  readonly id: string | null;
  /** A sub-page of that thing, e.g. "edit". */
  readonly action: string | null;
  /** Query parameters (the audit view's filters). */
  readonly params: Readonly<Record<string, string>>;
}

function isView(value: string): value is View {
  return (VIEWS as readonly string[]).includes(value);
}

function decode(part: string): string | null {
  try {
    return decodeURIComponent(part);
  } catch {
    return null;
  }
}

/** Parses a location.hash ("#/providers/dev/edit?x=1"); anything unknown is the providers list. */
export function parseRoute(hash: string): Route {
  const text = hash.replace(/^#/, "");
  const mark = text.indexOf("?");
  const path = mark < 0 ? text : text.slice(0, mark);
  const query = mark < 0 ? "" : text.slice(mark + 1);
  const parts = path.split("/").filter((p) => p !== "");
  const params: Record<string, string> = {};
  for (const [key, value] of new URLSearchParams(query)) if (value !== "") params[key] = value;
  const view = parts[0] ?? "";
  if (!isView(view)) return { view: "providers", id: null, action: null, params: {} };
  const id = parts[1] === undefined ? null : decode(parts[1]);
  const action = id === null || parts[2] === undefined ? null : decode(parts[2]);
  return { view, id, action, params };
}

/** The fragment for a route: the inverse of parseRoute. */
export function routeHash(route: Partial<Route> & { view: View }): string {
  const parts: string[] = [route.view];
  if (route.id) parts.push(encodeURIComponent(route.id));
  if (route.id && route.action) parts.push(encodeURIComponent(route.action));
  const query = new URLSearchParams(
    Object.entries(route.params ?? {}).filter(([, v]) => v !== ""),
  ).toString();
  return `#/${parts.join("/")}${query ? `?${query}` : ""}`;
}
