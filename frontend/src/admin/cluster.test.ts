import { describe, expect, it } from "vitest";
import {
  DEAD_HINT,
  STATUS_TONE,
  modeText,
  nodesSentence,
  onlineText,
  secondsSince,
  shortId,
  sortNodes,
  statusDetail,
} from "./cluster";
import type { ClusterNode } from "./types";

function node(id: string, extra: Partial<ClusterNode> = {}): ClusterNode {
  return {
    id,
    here: false,
    alive: true,
    started_at: "2025-01-02T10:00:00.000Z",
    heartbeat_at: "2025-01-02T10:05:00.000Z",
    sockets: 0,
    users: 0,
    ...extra,
  };
}

describe("the cluster's words", () => {
  it("names the mode", () => {
    expect(modeText("single")).toBe("One process");
    expect(modeText("redis")).toBe("Redis cluster");
  });

  it("explains degraded: local delivery goes on, the rest comes again", () => {
    const degraded = statusDetail("degraded");
    expect(degraded).toMatch(/^This process cannot hear its own heartbeat through Redis/);
    expect(degraded).toContain("local delivery goes on");
    expect(degraded).toContain("delivered again when it is back");
    expect(statusDetail("off")).toMatch(/^One process/);
    expect(statusDetail("ok")).toContain("hears its own heartbeat");
    expect(STATUS_TONE).toEqual({ off: "muted", ok: "ok", degraded: "warn" });
  });

  it("says online users are unknown while Redis does not answer", () => {
    expect(onlineText(null, "redis")).toBe("unknown while Redis does not answer");
    expect(onlineText(1, "single")).toBe("1 user, on this process");
    expect(onlineText(0, "redis")).toBe("0 users, on every node");
    expect(onlineText(4, "redis")).toBe("4 users, on every node");
  });

  it("shortens a node id to its first 8 characters", () => {
    expect(shortId("0123456789abcdef0123456789abcdef")).toBe("01234567");
    expect(shortId("abc")).toBe("abc");
  });

  it("counts the nodes and the dead ones", () => {
    expect(nodesSentence([node("a")])).toBe("1 node");
    expect(nodesSentence([node("a"), node("b", { alive: false }), node("c")])).toBe(
      "3 nodes, 1 dead",
    );
    expect(nodesSentence([])).toBe("0 nodes");
    expect(DEAD_HINT).toBe("no presence written for 3 intervals");
  });
});

describe("sortNodes", () => {
  it("puts this process first, then the living oldest first, then the dead", () => {
    const nodes = [
      node("dead", { alive: false, started_at: "2025-01-01T00:00:00.000Z" }),
      node("young", { started_at: "2025-01-02T12:00:00.000Z" }),
      node("old", { started_at: "2025-01-02T08:00:00.000Z" }),
      node("me", { here: true, started_at: "2025-01-03T00:00:00.000Z" }),
    ];
    expect(sortNodes(nodes).map((n) => n.id)).toEqual(["me", "old", "young", "dead"]);
    expect(nodes[0]?.id).toBe("dead"); // the input is left as it was
  });
});

describe("secondsSince", () => {
  it("measures from an ISO time to now, or null when it does not parse", () => {
    const now = Date.parse("2025-01-02T10:05:42.000Z");
    expect(secondsSince("2025-01-02T10:05:00.000Z", now)).toBe(42);
    expect(secondsSince("not a time", now)).toBeNull();
  });
});
