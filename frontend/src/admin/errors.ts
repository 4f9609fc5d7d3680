// Admin API errors: parsed from {"error": {code, message, retryable, fields?}}, told in plain words.

export interface FieldProblem {
  readonly field: string;
  readonly problem: string;
}

/** A failed admin request. `message` is the server's (user-safe) text; show `errorWords()`. */
export class ApiError extends Error {
  override readonly name = "ApiError";

  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly fields: readonly FieldProblem[] = [],
    readonly retryable = false,
  ) {
    super(message);
  }
}

/** Client-side codes (the server never sends these). */
export const NETWORK_ERROR = "network_error";
export const BAD_RESPONSE = "bad_response";

/** Every public code the console may meet, in words an administrator understands. */
export const ERROR_WORDS: Readonly<Record<string, string>> = {
  invalid_request: "The server did not accept this: check the values and try again.",
  invalid_token: "Your sign-in could not be verified. Sign in again.",
  token_expired: "Your session has expired. Sign in again.",
  unknown_issuer: "Your identity provider is not configured on this server any more.",
  session_revoked:
    "Your session was ended (a sign-out at the identity provider, or by an administrator). " +
    "Sign in again.",
  insufficient_scope: "Your sign-in does not grant the scopes this server requires.",
  forbidden: "You are signed in, but you are not an administrator.",
  access_denied: "The provider's admission rules refuse this account.",
  account_blocked: "Your account is blocked in this chat.",
  provider_disabled: "Sign-in with this identity provider is turned off.",
  groups_overage: "The account is in too many groups for sign-in to decide its rooms.",
  not_found: "It does not exist (any more): reload to see the current state.",
  conflict: "It already exists or was changed meanwhile: reload and try again.",
  provider_in_file:
    "This provider comes from the configuration file: remove it there first, or disable it here.",
  would_lock_out:
    "You are signed in with this provider: disabling or deleting it would lock you out. " +
    "Sign in with another provider to do it.",
  room_in_file: "This room comes from the configuration file: archive it instead.",
  payload_too_large: "That is too much data for one request.",
  idp_unavailable: "The identity provider cannot be reached right now. Try again shortly.",
  internal_error: "Something went wrong on the server. Try again; if it persists, check its log.",
  identity_changed: "The tokens belong to someone else.",
  too_many_connections: "The account has too many open connections.",
  rate_limited: "Too many requests: wait a moment and try again.",
  [NETWORK_ERROR]: "The server cannot be reached. Check your connection and try again.",
  [BAD_RESPONSE]: "The server sent an answer the console does not understand.",
};

/** Per-action wording that is more precise than the table (e.g. a 409 on a provider edit). */
export type Overrides = Readonly<Record<string, string>>;

function fieldsText(fields: readonly FieldProblem[]): string {
  return fields
    .map((f) => (f.field === "(body)" ? f.problem : `${f.field}: ${f.problem}`))
    .join("; ");
}

/** "Fix 2 fields first: client_id: required; audience: required." */
export function problemsSentence(problems: readonly FieldProblem[]): string {
  const n = problems.length;
  return `Fix ${n} ${n === 1 ? "field" : "fields"} first: ${fieldsText(problems)}.`;
}

/** The plain words for an error: the override, else the table, else the server's message. */
export function errorWords(error: unknown, overrides: Overrides = {}): string {
  if (!(error instanceof ApiError)) {
    return error instanceof Error && error.message ? error.message : "Something went wrong.";
  }
  const words = overrides[error.code] ?? ERROR_WORDS[error.code] ?? error.message;
  if (error.fields.length > 0) return `${words} ${fieldsText(error.fields)}.`;
  return words;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function parseFields(value: unknown): FieldProblem[] {
  if (!Array.isArray(value)) return [];
  return value.filter(isRecord).map((f) => ({
    field: typeof f["field"] === "string" ? f["field"] : "(body)",
    problem: typeof f["problem"] === "string" ? f["problem"] : "not valid",
  }));
}

function codeForStatus(status: number): string {
  if (status === 401) return "invalid_token";
  if (status === 403) return "forbidden";
  if (status === 404) return "not_found";
  if (status === 503) return "idp_unavailable";
  return status >= 500 ? "internal_error" : BAD_RESPONSE;
}

/** The ApiError of a non-2xx answer; a body that is not the API's error shape still gets a code. */
export function parseApiError(status: number, body: unknown): ApiError {
  const error = isRecord(body) && isRecord(body["error"]) ? body["error"] : null;
  if (error === null || typeof error["code"] !== "string") {
    const code = codeForStatus(status);
    return new ApiError(status, code, ERROR_WORDS[code] ?? "", [], status >= 500);
  }
  const message = typeof error["message"] === "string" ? error["message"] : "";
  return new ApiError(
    status,
    error["code"],
    message,
    parseFields(error["fields"]),
    error["retryable"] === true,
  );
}
