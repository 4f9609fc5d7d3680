import { describe, expect, it } from "vitest";
import { parseConfig } from "./config";

const provider = {
  id: "google",
  name: "Google",
  issuer: "https://accounts.google.com",
  client_id: "spa",
  scopes: "openid email profile",
  end_session: false,
};

describe("parseConfig", () => {
  it("reads a provider's mode, defaulting to access tokens", () => {
    const config = parseConfig({
      providers: [provider, { ...provider, id: "g2", mode: "id_token_only" }],
      max_message_chars: 4000,
    });
    expect(config.providers.map((p) => p.mode)).toEqual(["access_token", "id_token_only"]);
  });

  it("treats an unknown mode as access tokens (never drops the access token by mistake)", () => {
    const config = parseConfig({ providers: [{ ...provider, mode: "x" }], max_message_chars: 1 });
    expect(config.providers[0]?.mode).toBe("access_token");
  });
});
