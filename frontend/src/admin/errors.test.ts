import { describe, expect, it } from "vitest";
import { ApiError, ERROR_WORDS, errorWords, parseApiError } from "./errors";

// Every code the server's admin API and identity layer can answer with (server/admin/errors.py).
const PUBLIC_CODES = [
  "invalid_request",
  "invalid_token",
  "token_expired",
  "unknown_issuer",
  "session_revoked",
  "insufficient_scope",
  "forbidden",
  "access_denied",
  "account_blocked",
  "provider_disabled",
  "groups_overage",
  "not_found",
  "conflict",
  "provider_in_file",
  "would_lock_out",
  "room_in_file",
  "payload_too_large",
  "idp_unavailable",
  "internal_error",
];

describe("error words", () => {
  it("has plain words for every public code", () => {
    for (const code of PUBLIC_CODES) {
      expect(ERROR_WORDS[code], code).toMatch(/^[A-Z].+\.$/);
      expect(ERROR_WORDS[code], code).not.toContain("_");
    }
  });

  it("tells an admin why disabling their own provider is refused", () => {
    const error = new ApiError(409, "would_lock_out", "server text");
    expect(errorWords(error)).toMatch(/^You are signed in with this provider: /);
  });

  it("prefers an action's own words, and lists the fields that failed", () => {
    const conflict = new ApiError(409, "conflict", "");
    expect(errorWords(conflict, { conflict: "Changed meanwhile, reload." })).toBe(
      "Changed meanwhile, reload.",
    );
    const fields = [
      { field: "audience", problem: "required" },
      { field: "(body)", problem: "audience equals client_id" },
    ];
    const invalid = new ApiError(400, "invalid_request", "", fields);
    expect(errorWords(invalid)).toBe(
      `${ERROR_WORDS["invalid_request"]} audience: required; audience equals client_id.`,
    );
  });

  it("falls back to the server's message for a code it does not know", () => {
    expect(errorWords(new ApiError(400, "brand_new", "The server's words."))).toBe(
      "The server's words.",
    );
  });
});

describe("parseApiError", () => {
  it("reads code, message, retryable and fields of the API's error shape", () => {
    const body = {
      error: {
        code: "invalid_request",
        message: "The request is not valid.",
        retryable: false,
        fields: [{ field: "leeway_seconds", problem: "Input should be less than or equal to 60" }],
      },
    };
    const error = parseApiError(400, body);
    expect(error).toMatchObject({ status: 400, code: "invalid_request", retryable: false });
    expect(error.fields).toEqual([
      { field: "leeway_seconds", problem: "Input should be less than or equal to 60" },
    ]);
  });

  it("gives a code to answers that are not the API's shape (a proxy's 502, a 404 page)", () => {
    expect(parseApiError(502, "<html>").code).toBe("internal_error");
    expect(parseApiError(404, { error: "not_found" }).code).toBe("not_found");
    expect(parseApiError(418, null).code).toBe("bad_response");
  });
});
