import { describe, expect, it } from "vitest";
import { sampleOf } from "./preview";

describe("sampleOf", () => {
  it("sends the tokens that were pasted, or the claims as an object", () => {
    expect(sampleOf(" id ", "", "")).toEqual({ id_token: "id" });
    expect(sampleOf("id", "at", "")).toEqual({ id_token: "id", access_token: "at" });
    expect(sampleOf("", "", '{"sub": "alice"}')).toEqual({ claims: { sub: "alice" } });
  });

  it("says what is wrong instead of sending", () => {
    expect(sampleOf("", "", "")).toMatch(/^Paste/);
    expect(sampleOf("id", "", '{"sub": 1}')).toMatch(/not both/);
    expect(sampleOf("", "", "{")).toMatch(/not valid JSON/);
    expect(sampleOf("", "", "[1]")).toMatch(/JSON object/);
  });
});
