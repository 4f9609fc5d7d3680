import { describe, expect, it } from "vitest";
import { entryChanges } from "./auditEntry";

describe("entryChanges", () => {
  it("diffs an update's before and after", () => {
    const details = { before: { enabled: false, name: "A" }, after: { enabled: true, name: "A" } };
    expect(entryChanges(details)).toEqual([{ path: ["enabled"], before: false, after: true }]);
  });

  it("lists the nested members of a creation one by one", () => {
    const after = { id: "x", display: { label: "X", order: 0 } };
    expect(entryChanges({ before: null, after })).toEqual([
      { path: ["display", "label"], before: undefined, after: "X" },
      { path: ["display", "order"], before: undefined, after: 0 },
      { path: ["id"], before: undefined, after: "x" },
    ]);
  });

  it("lists every member of a creation and a deletion, by name", () => {
    expect(entryChanges({ before: null, after: { slug: "x", name: "X" } })).toEqual([
      { path: ["name"], before: undefined, after: "X" },
      { path: ["slug"], before: undefined, after: "x" },
    ]);
    expect(entryChanges({ before: { slug: "x" }, after: null })).toEqual([
      { path: ["slug"], before: "x", after: undefined },
    ]);
  });

  it("has nothing for entries without before and after", () => {
    expect(entryChanges({ issuer: "https://x", ok: true, before: null, after: null })).toEqual([]);
  });
});
