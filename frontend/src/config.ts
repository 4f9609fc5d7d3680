// The public sign-in settings the server publishes at GET /config.

export interface ProviderConfig {
  readonly id: string;
  readonly name: string;
  readonly issuer: string;
  readonly clientId: string;
  readonly scopes: string;
  readonly endSession: boolean;
  /** "id_token_only": the provider issues no access token for our API; the ID token is sent alone. */
  readonly mode: "access_token" | "id_token_only";
}

export interface AppConfig {
  readonly providers: readonly ProviderConfig[];
  readonly maxMessageChars: number;
}

export class ConfigError extends Error {
  override readonly name = "ConfigError";
}

function record(value: unknown, what: string): Record<string, unknown> {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new ConfigError(`${what} is not an object`);
  }
  return value as Record<string, unknown>;
}

function text(obj: Record<string, unknown>, key: string): string {
  const value = obj[key];
  if (typeof value !== "string" || value === "") {
    throw new ConfigError(`${key} must be a non-empty string`);
  }
  return value;
}

function parseProvider(value: unknown): ProviderConfig {
  const obj = record(value, "provider");
  return {
    id: text(obj, "id"),
    name: text(obj, "name"),
    issuer: text(obj, "issuer"),
    clientId: text(obj, "client_id"),
    scopes: text(obj, "scopes"),
    endSession: obj["end_session"] === true,
    mode: obj["mode"] === "id_token_only" ? "id_token_only" : "access_token",
  };
}

/** Validates the JSON body of GET /config. Throws ConfigError when it is malformed. */
export function parseConfig(body: unknown): AppConfig {
  const obj = record(body, "config");
  const providers = obj["providers"];
  if (!Array.isArray(providers) || providers.length === 0) {
    throw new ConfigError("providers must be a non-empty list");
  }
  const max = obj["max_message_chars"];
  if (typeof max !== "number" || !Number.isInteger(max) || max < 1) {
    throw new ConfigError("max_message_chars must be a positive integer");
  }
  return { providers: providers.map(parseProvider), maxMessageChars: max };
}

export async function loadConfig(): Promise<AppConfig> {
  const response = await fetch("/config", { headers: { Accept: "application/json" } });
  if (!response.ok) {
    throw new ConfigError(`GET /config answered ${response.status}`);
  }
  return parseConfig(await response.json());
}
