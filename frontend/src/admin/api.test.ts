import { afterEach, describe, expect, it, vi } from "vitest";
import { AdminApi, authHeaders } from "./api";
import { ApiError } from "./errors";

function answer(status: number, body: unknown, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: { "Content-Type": "application/json", ...headers },
  });
}

const expired = (): Response =>
  answer(
    401,
    { error: { code: "token_expired", message: "expired", retryable: false } },
    { "WWW-Authenticate": 'Bearer error="token_expired"' },
  );

function session(renews: boolean) {
  let n = 0;
  return {
    renewals: () => n,
    tokens: () => ({ access_token: `at-${n}`, id_token: `id-${n}` }),
    renew: async () => {
      n += 1;
      return renews;
    },
  };
}

afterEach(() => vi.unstubAllGlobals());

describe("AdminApi", () => {
  it("sends both tokens of the session", async () => {
    const fetch = vi.fn(async (_url: string, _init: RequestInit) =>
      answer(200, { admin: { name: "Dana" } }),
    );
    vi.stubGlobal("fetch", fetch);
    await new AdminApi(session(true)).me();
    const init = fetch.mock.calls[0]?.[1] as RequestInit;
    expect(init.headers).toMatchObject({ Authorization: "Bearer at-0", "X-Id-Token": "id-0" });
    expect(authHeaders({ id_token: "only" })).toEqual({ "X-Id-Token": "only" });
  });

  it("renews once on token_expired and retries with the new tokens", async () => {
    const fetch = vi
      .fn()
      .mockResolvedValueOnce(expired())
      .mockResolvedValueOnce(answer(200, { rooms: [] }));
    vi.stubGlobal("fetch", fetch);
    const tokens = session(true);
    expect(await new AdminApi(tokens).rooms()).toEqual([]);
    expect(tokens.renewals()).toBe(1);
    const retry = fetch.mock.calls[1]?.[1] as RequestInit;
    expect(retry.headers).toMatchObject({ Authorization: "Bearer at-1" });
  });

  it("says signed out when renewal fails, and throws the parsed error", async () => {
    vi.stubGlobal(
      "fetch",
      vi.fn(async () => expired()),
    );
    const signedOut = vi.fn();
    const api = new AdminApi(session(false), signedOut);
    await expect(api.rooms()).rejects.toMatchObject({ status: 401, code: "token_expired" });
    expect(signedOut).toHaveBeenCalledOnce();
  });

  it("sends If-Match with the version on a provider edit", async () => {
    const fetch = vi.fn(async (_url: string, _init: RequestInit) =>
      answer(409, { error: { code: "conflict", message: "" } }),
    );
    vi.stubGlobal("fetch", fetch);
    const error = await new AdminApi(session(true))
      .updateProvider("corp", { name: "x" }, 3)
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ApiError);
    expect((error as ApiError).code).toBe("conflict");
    const init = fetch.mock.calls[0]?.[1] as RequestInit;
    expect(init.headers).toMatchObject({ "If-Match": '"3"', "Content-Type": "application/json" });
    expect(init.body).toBe('{"name":"x"}');
  });

  it("turns a network failure into network_error", async () => {
    vi.stubGlobal(
      "fetch",
      vi.fn(async () => Promise.reject(new TypeError("Failed to fetch"))),
    );
    await expect(new AdminApi(session(true)).rooms()).rejects.toMatchObject({
      code: "network_error",
    });
  });
});
