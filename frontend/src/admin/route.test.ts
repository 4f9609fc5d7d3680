import { describe, expect, it } from "vitest";
import { safeReturnPath } from "../auth";
import { parseRoute, routeHash } from "./route";

describe("parseRoute", () => {
  it("reads the view, the thing it names, a sub-page and the query", () => {
    expect(parseRoute("#/users/42")).toEqual({ view: "users", id: "42", action: null, params: {} });
    expect(parseRoute("#/cluster")).toEqual({
      view: "cluster",
      id: null,
      action: null,
      params: {},
    });
    expect(parseRoute("#/providers/corp/edit")).toEqual({
      view: "providers",
      id: "corp",
      action: "edit",
      params: {},
    });
    expect(parseRoute("#/audit?action=provider.update&actor=u-1&since=")).toEqual({
      view: "audit",
      id: null,
      action: null,
      params: { action: "provider.update", actor: "u-1" },
    });
  });

  it("shows the providers for an empty or unknown fragment", () => {
    const providers = { view: "providers", id: null, action: null, params: {} };
    expect(parseRoute("")).toEqual(providers);
    expect(parseRoute("#")).toEqual(providers);
    expect(parseRoute("#/nowhere/1")).toEqual(providers);
    expect(parseRoute("#/users/%E0%A4%A")).toMatchObject({ view: "users", id: null });
  });

  it("is the inverse of routeHash", () => {
    const routes = [
      { view: "rooms", id: "new", action: null, params: {} },
      { view: "providers", id: "a b", action: "edit", params: {} },
      { view: "audit", id: null, action: null, params: { actor: "x y" } },
    ] as const;
    for (const route of routes) expect(parseRoute(routeHash(route))).toEqual(route);
    expect(routeHash({ view: "users" })).toBe("#/users");
  });
});

describe("safeReturnPath", () => {
  it("returns to the chat or the admin console, never elsewhere", () => {
    expect(safeReturnPath("/admin")).toBe("/admin");
    expect(safeReturnPath("/admin#/users/4")).toBe("/admin#/users/4");
    expect(safeReturnPath("https://evil.example/admin")).toBe("/");
    expect(safeReturnPath("//evil.example")).toBe("/");
    expect(safeReturnPath("/admin/../x")).toBe("/");
    expect(safeReturnPath(undefined)).toBe("/");
  });
});
