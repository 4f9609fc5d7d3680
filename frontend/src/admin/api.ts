// The admin API client: the session's tokens on every request, errors as ApiError, one renewal
// on token_expired. Tokens are never logged.
import type { Tokens } from "../auth";
import { ApiError, BAD_RESPONSE, NETWORK_ERROR, parseApiError } from "./errors";
import type {
  AdminIdentity,
  AuditFilter,
  AuditPage,
  ChainHead,
  ChainReport,
  Cluster,
  Impact,
  Preview,
  PreviewSample,
  ProbeReport,
  Provider,
  Room,
  User,
  UserPage,
} from "./types";

export const ADMIN_PREFIX = "/api/admin";

/** What the client needs of a Session (auth.ts). */
export interface TokenSource {
  tokens(): Tokens;
  renew(): Promise<boolean>;
}

type Method = "GET" | "POST" | "PATCH" | "DELETE";

export function authHeaders(tokens: Tokens): Record<string, string> {
  const headers: Record<string, string> = {};
  if (tokens.access_token) headers["Authorization"] = `Bearer ${tokens.access_token}`;
  if (tokens.id_token) headers["X-Id-Token"] = tokens.id_token;
  return headers;
}

function query(params: Record<string, string | number | undefined>): string {
  const entries = Object.entries(params).filter(([, v]) => v !== undefined && v !== "");
  const text = new URLSearchParams(entries.map(([k, v]) => [k, String(v)])).toString();
  return text ? `?${text}` : "";
}

export class AdminApi {
  /** `signedOut` is told when the tokens no longer prove a session (any 401 after renewal). */
  constructor(
    private readonly session: TokenSource,
    private readonly signedOut: (error: ApiError) => void = () => undefined,
  ) {}

  /** One request; throws ApiError. A 401 token_expired is retried once after a renewal. */
  async request<T>(
    method: Method,
    path: string,
    body?: unknown,
    headers: Record<string, string> = {},
  ): Promise<T> {
    let response = await this.send(method, path, body, headers);
    if (response.status === 401 && (await this.expired(response)) && (await this.session.renew())) {
      response = await this.send(method, path, body, headers);
    }
    const parsed: unknown = await response.json().catch(() => undefined);
    if (response.ok && parsed !== undefined) return parsed as T;
    const error = response.ok
      ? new ApiError(response.status, BAD_RESPONSE, "not JSON")
      : parseApiError(response.status, parsed);
    if (error.status === 401) this.signedOut(error);
    throw error;
  }

  private async expired(response: Response): Promise<boolean> {
    const challenge = response.headers.get("WWW-Authenticate") ?? "";
    if (challenge.includes('error="token_expired"')) return true;
    const body: unknown = await response
      .clone()
      .json()
      .catch(() => undefined);
    return parseApiError(401, body).code === "token_expired";
  }

  private async send(
    method: Method,
    path: string,
    body: unknown,
    extra: Record<string, string>,
  ): Promise<Response> {
    const headers: Record<string, string> = {
      Accept: "application/json",
      ...authHeaders(this.session.tokens()),
      ...extra,
    };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    try {
      return await fetch(ADMIN_PREFIX + path, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        cache: "no-store",
        credentials: "omit",
      });
    } catch {
      throw new ApiError(0, NETWORK_ERROR, "network error", [], true);
    }
  }

  // -- the endpoints the console uses ----------------------------------------------------

  async me(): Promise<AdminIdentity> {
    return (await this.request<{ admin: AdminIdentity }>("GET", "/me")).admin;
  }

  async providers(): Promise<Provider[]> {
    return (await this.request<{ providers: Provider[] }>("GET", "/providers")).providers;
  }

  async provider(id: string): Promise<Provider> {
    const path = `/providers/${encodeURIComponent(id)}`;
    return (await this.request<{ provider: Provider }>("GET", path)).provider;
  }

  async createProvider(document: Record<string, unknown>): Promise<Provider> {
    return (await this.request<{ provider: Provider }>("POST", "/providers", document)).provider;
  }

  /** A JSON merge patch, only if the provider is still at `version` (409 conflict otherwise). */
  async updateProvider(id: string, patch: object, version: number): Promise<Provider> {
    const path = `/providers/${encodeURIComponent(id)}`;
    const ifMatch = { "If-Match": `"${version}"` };
    return (await this.request<{ provider: Provider }>("PATCH", path, patch, ifMatch)).provider;
  }

  async deleteProvider(id: string): Promise<number> {
    const path = `/providers/${encodeURIComponent(id)}`;
    return (await this.request<{ ended_sessions: number }>("DELETE", path)).ended_sessions;
  }

  async testIssuer(issuer: string): Promise<ProbeReport> {
    return (await this.request<{ report: ProbeReport }>("POST", "/providers/test", { issuer }))
      .report;
  }

  async preview(id: string, sample: PreviewSample): Promise<Preview> {
    const path = `/providers/${encodeURIComponent(id)}/preview`;
    return (await this.request<{ preview: Preview }>("POST", path, sample)).preview;
  }

  async rooms(): Promise<Room[]> {
    return (await this.request<{ rooms: Room[] }>("GET", "/rooms")).rooms;
  }

  async createRoom(room: { slug: string; name: string; allowed_groups: string[] }): Promise<Room> {
    return (await this.request<{ room: Room }>("POST", "/rooms", room)).room;
  }

  async updateRoom(slug: string, patch: Partial<Omit<Room, "slug">>): Promise<Room> {
    const path = `/rooms/${encodeURIComponent(slug)}`;
    return (await this.request<{ room: Room }>("PATCH", path, patch)).room;
  }

  async impact(slug: string, allowedGroups: string[]): Promise<Impact> {
    const path = `/rooms/${encodeURIComponent(slug)}/impact`;
    const body = { allowed_groups: allowedGroups };
    return (await this.request<{ impact: Impact }>("POST", path, body)).impact;
  }

  async users(q: string, after = 0, limit = 50): Promise<UserPage> {
    return this.request<UserPage>("GET", `/users${query({ q, after: after || undefined, limit })}`);
  }

  async user(id: number): Promise<User> {
    return (await this.request<{ user: User }>("GET", `/users/${id}`)).user;
  }

  async setBlocked(id: number, blocked: boolean): Promise<{ user: User; ended_sessions: number }> {
    return this.request("POST", `/users/${id}/${blocked ? "block" : "unblock"}`);
  }

  async endSessions(id: number): Promise<number> {
    return (await this.request<{ ended_sessions: number }>("POST", `/users/${id}/end-sessions`))
      .ended_sessions;
  }

  async audit(filter: AuditFilter, after: number, limit: number): Promise<AuditPage> {
    return this.request<AuditPage>("GET", `/audit${query({ ...filter, after, limit })}`);
  }

  async auditHead(): Promise<ChainHead> {
    return (await this.request<{ head: ChainHead }>("GET", "/audit/head")).head;
  }

  async verifyAudit(): Promise<ChainReport> {
    return (await this.request<{ report: ChainReport }>("GET", "/audit/verify")).report;
  }

  async cluster(): Promise<Cluster> {
    return (await this.request<{ cluster: Cluster }>("GET", "/cluster")).cluster;
  }
}
