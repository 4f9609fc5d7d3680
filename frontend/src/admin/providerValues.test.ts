import { describe, expect, it } from "vitest";
import { checkValues, defaultsFrom, documentOf, splitList, suggestId } from "./providerValues";
import type { Discovered } from "./types";

const discovered: Discovered = {
  authorization_endpoint: "https://login.acme.com/auth",
  token_endpoint: "https://login.acme.com/token",
  end_session_endpoint: null,
  scopes_supported: ["openid", "email", "profile", "groups", "offline_access", "phone"],
  claims_supported: ["sub", "name", "groups"],
  algorithms: ["RS256", "ES256"],
  supports_pkce: true,
  supports_backchannel_logout: false,
};

describe("provider form values", () => {
  it("starts from what discovery suggests", () => {
    const values = defaultsFrom("https://login.acme.com", discovered);
    expect(values).toMatchObject({
      id: "acme",
      name: "login.acme.com",
      scopes: "openid profile email groups offline_access",
      algorithms: "RS256 ES256",
      groups_claim: "groups",
      leeway_seconds: "60",
      mode: "access_token",
    });
    expect(suggestId("http://127.0.0.1:9401")).toBe("idp-9401");
  });

  it("turns the form into a settings document; id_token_only drops the access-token keys", () => {
    const values = {
      ...defaultsFrom("https://login.acme.com", discovered),
      client_id: " spa ",
      audience: "api://chat",
      required_scopes: "chat:read, chat:write",
      label: "Acme",
      order: "5",
    };
    expect(documentOf(values)).toMatchObject({
      client_id: "spa",
      audience: "api://chat",
      required_scopes: ["chat:read", "chat:write"],
      algorithms: ["RS256", "ES256"],
      leeway_seconds: 60,
      display: { label: "Acme", order: 5 },
    });
    const idOnly = documentOf({ ...values, mode: "id_token_only" });
    expect(idOnly).toMatchObject({ audience: "", required_scopes: [] });
    expect(splitList(" a,b  c,,")).toEqual(["a", "b", "c"]);
  });

  it("names the fields the server would refuse", () => {
    const values = {
      ...defaultsFrom("https://login.acme.com", discovered),
      id: "Bad Id",
      leeway_seconds: "90",
    };
    const fields = checkValues(values).map((p) => p.field);
    expect(fields).toEqual(["id", "client_id", "audience", "leeway_seconds"]);
  });
});
