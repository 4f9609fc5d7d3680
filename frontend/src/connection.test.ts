import { describe, expect, it } from "vitest";
import { backoffDelay, shutdownDelay } from "./connection";

describe("backoffDelay", () => {
  it("doubles from one second and stops at thirty", () => {
    expect([0, 1, 2, 3, 4, 5, 9].map(backoffDelay)).toEqual([
      1000, 2000, 4000, 8000, 16000, 30000, 30000,
    ]);
  });
});

describe("shutdownDelay", () => {
  it("spreads reconnects after a server shutdown over half a second to three", () => {
    expect(shutdownDelay(0)).toBe(500);
    expect(shutdownDelay(0.5)).toBe(1750);
    expect(shutdownDelay(0.99999)).toBeLessThan(3000);
    expect(shutdownDelay(-1)).toBe(500);
    expect(shutdownDelay(7)).toBeLessThan(3000);
  });
});
