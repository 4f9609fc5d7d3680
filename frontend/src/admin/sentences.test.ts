import { describe, expect, it } from "vitest";
import {
  ageText,
  chainDetail,
  chainSentence,
  connectCounts,
  impactSentence,
  liveSessionsSentence,
  mayJoinSentence,
  providerStateText,
} from "./sentences";
import type { ChainReport, ProviderStatus } from "./types";

describe("impactSentence", () => {
  it("says how many of the known users would lose access", () => {
    const impact = { known_users: 4, may_see: 3, would_lose: 2, would_gain: 0 };
    expect(impactSentence(impact)).toBe("2 of 4 known users would lose access");
    expect(mayJoinSentence(impact)).toBe("After the change, 1 of 4 known users may see it.");
  });

  it("adds who would gain it, and says 0 when nobody loses", () => {
    expect(impactSentence({ known_users: 4, may_see: 1, would_lose: 0, would_gain: 3 })).toBe(
      "0 of 4 known users would lose access, 3 would gain it",
    );
    expect(impactSentence({ known_users: 1, may_see: 1, would_lose: 1, would_gain: 0 })).toBe(
      "1 of 1 known user would lose access",
    );
  });
});

function report(overrides: Partial<ChainReport>): ChainReport {
  return {
    ok: true,
    checked: 12,
    head: { id: 12, hash: "ab" },
    first_bad_id: null,
    problem: null,
    ...overrides,
  };
}

describe("chainSentence", () => {
  it("says the chain is intact up to its head", () => {
    expect(chainSentence(report({}))).toBe("Chain intact up to #12");
    expect(chainDetail(report({}))).toBe(
      "12 entries checked: every entry links to the one before it.",
    );
    expect(chainSentence(report({ checked: 0, head: { id: 0, hash: null } }))).toBe(
      "Chain intact up to #0",
    );
  });

  it("names the first bad row and what is wrong with it", () => {
    const broken = { ok: false, checked: 6, head: { id: 6, hash: "x" }, first_bad_id: 7 };
    expect(chainSentence(report({ ...broken, problem: "altered" }))).toBe("Row #7 altered");
    expect(chainSentence(report({ ...broken, problem: "removed" }))).toBe("Row #7 removed");
    expect(chainSentence(report({ ...broken, problem: "reordered" }))).toBe("Row #7 reordered");
    expect(chainSentence(report({ ...broken, problem: "truncated" }))).toMatch(/truncated/);
    expect(chainDetail(report({ ...broken, problem: "removed" }))).toBe(
      "6 entries checked intact before it; an entry before it is missing.",
    );
  });
});

describe("provider state", () => {
  const status = (keys: ProviderStatus["keys"]): ProviderStatus => ({
    keys,
    key_count: 1,
    seconds_since_fetch: 3,
  });

  it("uses the words of the list", () => {
    expect(providerStateText(true, status("ok"))).toBe("ok");
    expect(providerStateText(true, status("stale"))).toBe("keys stale");
    expect(providerStateText(true, status("unavailable"))).toBe("unavailable");
    expect(providerStateText(true, status("not_fetched"))).toBe("not loaded yet");
    expect(providerStateText(false, status("ok"))).toBe("disabled");
  });

  it("tells how long ago keys were fetched, and sorts connect outcomes", () => {
    expect(ageText(null)).toBe("never");
    expect(ageText(2)).toBe("just now");
    expect(ageText(42)).toBe("42 s ago");
    expect(ageText(300)).toBe("5 min ago");
    expect(ageText(7200)).toBe("2 h ago");
    expect(connectCounts({ token_expired: 2, ok: 12, access_denied: 0 })).toEqual([
      ["ok", 12],
      ["token_expired", 2],
    ]);
  });
});

describe("liveSessionsSentence", () => {
  it("counts the sessions that will end", () => {
    expect(liveSessionsSentence(0)).toBe("0 live sessions will end");
    expect(liveSessionsSentence(1)).toBe("1 live session will end");
    expect(liveSessionsSentence(3)).toBe("3 live sessions will end");
  });
});
