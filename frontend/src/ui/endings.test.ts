import { describe, expect, it } from "vitest";
import { sessionEndedText } from "./endings";

describe("sessionEndedText", () => {
  it("says an administrator turned the provider off, or blocked the account", () => {
    expect(sessionEndedText("provider_disabled")).toBe(
      "Sign-in with this identity provider was turned off by an administrator.",
    );
    expect(sessionEndedText("blocked")).toBe("Your account was blocked by an administrator.");
    expect(sessionEndedText("access_denied")).toBe(
      "Your account is no longer allowed to use this chat.",
    );
  });

  it("keeps the generic text for the other reasons", () => {
    expect(sessionEndedText("logged_out")).toBe("Your session has ended (logged_out).");
    expect(sessionEndedText("identity_changed")).toBe("Your session has ended (identity_changed).");
  });
});
