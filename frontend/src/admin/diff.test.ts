import { describe, expect, it } from "vitest";
import { diffDocuments, formatValue, mergePatchOf, sameValue } from "./diff";

const provider = {
  id: "corp",
  name: "Corp",
  enabled: false,
  algorithms: ["RS256", "ES256"],
  leeway_seconds: 60,
  display: { label: "", order: 0, hidden: false },
};

describe("diffDocuments", () => {
  it("lists each changed leaf with its path, before and after", () => {
    const after = {
      ...provider,
      name: "Corp SSO",
      algorithms: ["RS256"],
      display: { ...provider.display, label: "Sign in with Corp" },
    };
    expect(diffDocuments(provider, after)).toEqual([
      { path: ["name"], before: "Corp", after: "Corp SSO" },
      { path: ["algorithms"], before: ["RS256", "ES256"], after: ["RS256"] },
      { path: ["display", "label"], before: "", after: "Sign in with Corp" },
    ]);
  });

  it("finds nothing between equal documents whatever their member order", () => {
    const reordered = Object.fromEntries(
      Object.entries({ ...provider, display: { hidden: false, order: 0, label: "" } }).reverse(),
    );
    expect(diffDocuments(provider, reordered)).toEqual([]);
    expect(sameValue(["a", "b"], ["b", "a"])).toBe(false);
  });

  it("reports members added and removed", () => {
    expect(diffDocuments({ a: 1 }, { b: 2 })).toEqual([
      { path: ["a"], before: 1, after: undefined },
      { path: ["b"], before: undefined, after: 2 },
    ]);
  });
});

describe("mergePatchOf", () => {
  it("builds a JSON merge patch of only the changes; a removed member resets (null)", () => {
    const patch = mergePatchOf([
      { path: ["name"], before: "Corp", after: "Corp SSO" },
      { path: ["display", "label"], before: "", after: "Corp" },
      { path: ["display", "order"], before: 0, after: 5 },
      { path: ["audience"], before: "x", after: undefined },
    ]);
    expect(patch).toEqual({
      name: "Corp SSO",
      display: { label: "Corp", order: 5 },
      audience: null,
    });
  });
});

describe("formatValue", () => {
  it("shows lists, empties and absences in words", () => {
    expect(formatValue(["RS256", "ES256"])).toBe("RS256, ES256");
    expect(formatValue([])).toBe("(none)");
    expect(formatValue("")).toBe("(empty)");
    expect(formatValue(undefined)).toBe("(not set)");
    expect(formatValue(false)).toBe("false");
    expect(formatValue({ a: 1 })).toBe('{"a":1}');
  });
});
