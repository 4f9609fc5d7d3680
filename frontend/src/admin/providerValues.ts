// A provider's editable settings as form text, and back: pure, shared by the wizard and the editor.
import type { FieldProblem } from "./errors";
import type { Discovered, Provider } from "./types";

export const DEFAULT_ALGORITHMS = ["RS256", "PS256", "ES256", "EdDSA"];
const SLUG = /^[a-z0-9][a-z0-9_-]{0,63}$/;

/** Every field of the form, as typed. */
export interface ProviderValues {
  readonly id: string;
  readonly name: string;
  readonly label: string;
  readonly order: string;
  readonly client_id: string;
  readonly mode: "access_token" | "id_token_only";
  readonly audience: string;
  readonly scopes: string;
  readonly required_scopes: string;
  readonly algorithms: string;
  readonly leeway_seconds: string;
  readonly groups_claim: string;
}

/** Names separated by spaces and/or commas. */
export function splitList(text: string): string[] {
  return text.split(/[\s,]+/).filter((item) => item !== "");
}

/** A slug suggestion for a new provider from its issuer ("https://login.acme.com" -> "acme"). */
export function suggestId(issuer: string): string {
  let url: URL;
  try {
    url = new URL(issuer);
  } catch {
    return "";
  }
  const generic = new Set(["www", "login", "auth", "sso", "id", "idp", "accounts", "com", "net"]);
  const host = url.hostname;
  const isAddress = /^[\d.]+$/.test(host) || host.includes(":") || host === "localhost";
  const label = isAddress
    ? `idp${url.port ? `-${url.port}` : ""}`
    : (host.split(".").find((part) => !generic.has(part)) ?? "idp");
  return label
    .toLowerCase()
    .replace(/[^a-z0-9_-]/g, "-")
    .slice(0, 64);
}

function suggestedScopes(supported: readonly string[]): string {
  if (supported.length === 0) return "openid profile email";
  const wanted = ["openid", "profile", "email", "groups", "offline_access"];
  return wanted.filter((s) => s === "openid" || supported.includes(s)).join(" ");
}

function suggestedGroupsClaim(claims: readonly string[]): string {
  if (claims.includes("groups") || !claims.includes("roles")) return "groups";
  return "roles";
}

/** The form's starting values for a provider that passed the test. */
export function defaultsFrom(issuer: string, discovered: Discovered): ProviderValues {
  const host = (() => {
    try {
      return new URL(issuer).host;
    } catch {
      return "";
    }
  })();
  const algorithms = discovered.algorithms.length ? discovered.algorithms : DEFAULT_ALGORITHMS;
  return {
    id: suggestId(issuer),
    name: host,
    label: "",
    order: "0",
    client_id: "",
    mode: "access_token",
    audience: "",
    scopes: suggestedScopes(discovered.scopes_supported),
    required_scopes: "",
    algorithms: algorithms.join(" "),
    leeway_seconds: "60",
    groups_claim: suggestedGroupsClaim(discovered.claims_supported),
  };
}

/** The form values of a stored provider. */
export function valuesOf(provider: Provider): ProviderValues {
  return {
    id: provider.id,
    name: provider.name,
    label: provider.display.label,
    order: String(provider.display.order),
    client_id: provider.client_id,
    mode: provider.mode,
    audience: provider.audience,
    scopes: provider.scopes,
    required_scopes: provider.required_scopes.join(" "),
    algorithms: provider.algorithms.join(" "),
    leeway_seconds: String(provider.leeway_seconds),
    groups_claim: provider.groups_claim,
  };
}

function integer(text: string): number {
  return /^-?\d+$/.test(text.trim()) ? Number(text.trim()) : Number.NaN;
}

/** The settings document of the form (the keys it edits). With mode id_token_only the
 * access-token keys are sent at their defaults, which the server requires. */
export function documentOf(values: ProviderValues): Record<string, unknown> {
  const accessToken = values.mode === "access_token";
  return {
    id: values.id.trim(),
    name: values.name.trim(),
    client_id: values.client_id.trim(),
    mode: values.mode,
    audience: accessToken ? values.audience.trim() : "",
    scopes: splitList(values.scopes).join(" "),
    required_scopes: accessToken ? splitList(values.required_scopes) : [],
    algorithms: splitList(values.algorithms),
    leeway_seconds: integer(values.leeway_seconds),
    groups_claim: values.groups_claim.trim(),
    display: { label: values.label.trim(), order: integer(values.order || "0") },
  };
}

/** What the form can tell before asking the server (which checks everything again). */
export function checkValues(values: ProviderValues): FieldProblem[] {
  const problems: FieldProblem[] = [];
  const add = (field: string, problem: string): void => void problems.push({ field, problem });
  if (!SLUG.test(values.id.trim())) {
    add("id", "use 1-64 lower-case letters, digits, - or _, starting with a letter or digit");
  }
  if (!values.client_id.trim()) add("client_id", "the client id is required");
  if (values.mode === "access_token" && !values.audience.trim()) {
    add("audience", "required when the provider issues access tokens for this API");
  }
  const leeway = integer(values.leeway_seconds);
  if (!(leeway >= 0 && leeway <= 60)) add("leeway_seconds", "a whole number of seconds, 0 to 60");
  const order = integer(values.order || "0");
  if (!(order >= -1000 && order <= 1000)) add("display.order", "a whole number, -1000 to 1000");
  if (splitList(values.algorithms).length === 0) add("algorithms", "name at least one algorithm");
  if (!values.groups_claim.trim()) add("groups_claim", "the claim that lists the groups");
  return problems;
}
