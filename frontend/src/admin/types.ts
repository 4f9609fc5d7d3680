// Wire types of the admin API (/api/admin), as server/admin/views.py answers them.

export type KeyState = "ok" | "stale" | "unavailable" | "not_fetched" | "not_loaded";

export interface AdminIdentity {
  readonly provider: string;
  readonly issuer: string;
  readonly subject: string;
  readonly name: string;
  readonly groups: readonly string[];
}

export interface ProviderStatus {
  readonly keys: KeyState;
  readonly key_count: number;
  readonly seconds_since_fetch: number | null;
  readonly connects_last_hour?: Readonly<Record<string, number>>;
  readonly live_sessions?: number;
}

export interface Display {
  readonly label: string;
  readonly order: number;
  readonly hidden: boolean;
}

/** A provider's settings (every key of a [[providers]] entry) plus where they came from. */
export interface Provider {
  readonly id: string;
  readonly name: string;
  readonly enabled: boolean;
  readonly issuer: string;
  readonly client_id: string;
  readonly mode: "access_token" | "id_token_only";
  readonly audience: string;
  readonly scopes: string;
  readonly required_scopes: readonly string[];
  readonly algorithms: readonly string[];
  readonly leeway_seconds: number;
  readonly groups_claim: string;
  readonly display: Display;
  readonly source: "file" | "api";
  readonly version: number;
  readonly updated_at: string;
  readonly file_differs: readonly string[];
  readonly status: ProviderStatus;
  readonly [key: string]: unknown;
}

export interface Check {
  readonly name: string;
  readonly ok: boolean;
  readonly severity: "error" | "warning";
  readonly detail: string;
}

export interface Discovered {
  readonly authorization_endpoint: string | null;
  readonly token_endpoint: string | null;
  readonly end_session_endpoint: string | null;
  readonly scopes_supported: readonly string[];
  readonly claims_supported: readonly string[];
  readonly algorithms: readonly string[];
  readonly supports_pkce: boolean;
  readonly supports_backchannel_logout: boolean;
}

export interface ProbeReport {
  readonly ok: boolean;
  readonly checks: readonly Check[];
  readonly discovered: Discovered;
}

export interface PublicError {
  readonly code: string;
  readonly message: string;
  readonly retryable?: boolean;
}

export interface Preview {
  readonly accepted: boolean;
  readonly identity?: {
    readonly provider: string;
    readonly issuer: string;
    readonly subject: string;
    readonly name: string;
    readonly groups: readonly string[];
    readonly email: string | null;
  };
  readonly admission?: { readonly ok: boolean; readonly code?: string; readonly reason?: string };
  readonly rooms?: readonly string[];
  readonly error?: PublicError;
}

export interface PreviewSample {
  readonly id_token?: string;
  readonly access_token?: string;
  readonly claims?: Record<string, unknown>;
}

export interface Room {
  readonly slug: string;
  readonly name: string;
  readonly allowed_groups: readonly string[];
  readonly archived: boolean;
}

export interface Impact {
  readonly known_users: number;
  readonly may_see: number;
  readonly would_lose: number;
  readonly would_gain: number;
}

export interface LiveSessions {
  readonly total: number;
  readonly processes: number;
  readonly here: number;
}

export interface User {
  readonly id: number;
  readonly provider: string;
  readonly issuer: string;
  readonly subject: string;
  readonly name: string;
  readonly groups: readonly string[];
  readonly created_at: string;
  readonly last_seen_at: string | null;
  readonly blocked: boolean;
  readonly blocked_at: string | null;
  readonly live_sessions?: LiveSessions;
}

export interface UserPage {
  readonly users: readonly User[];
  readonly next_after: number | null;
}

export interface AuditEntry {
  readonly id: number;
  readonly created_at: string;
  readonly actor: {
    readonly provider: string | null;
    readonly subject: string | null;
    readonly name: string | null;
  };
  readonly action: string;
  readonly target: string;
  readonly details: Readonly<Record<string, unknown>>;
  readonly prev_hash: string;
  readonly hash: string;
}

export interface AuditPage {
  readonly entries: readonly AuditEntry[];
  readonly next_after: number | null;
}

export interface AuditFilter {
  readonly action?: string;
  readonly actor?: string;
  readonly since?: string;
  readonly until?: string;
}

export interface ChainHead {
  readonly id: number;
  readonly hash: string | null;
}

export interface ChainReport {
  readonly ok: boolean;
  readonly checked: number;
  readonly head: ChainHead;
  readonly first_bad_id: number | null;
  readonly problem: "altered" | "removed" | "reordered" | "truncated" | null;
}

export type ClusterMode = "single" | "redis";
export type ClusterStatus = "off" | "ok" | "degraded";

/** A server process as it last wrote its presence. */
export interface ClusterNode {
  readonly id: string;
  /** The process that answered this request. */
  readonly here: boolean;
  /** It wrote its presence within three intervals. */
  readonly alive: boolean;
  readonly started_at: string;
  readonly heartbeat_at: string;
  readonly sockets: number;
  readonly users: number;
}

export interface Cluster {
  readonly mode: ClusterMode;
  /** This process's view of Redis ("off": one process, no Redis). */
  readonly status: ClusterStatus;
  readonly node: string;
  readonly nodes: readonly ClusterNode[];
  /** Users with a live socket anywhere; null while Redis does not answer. */
  readonly online_users: number | null;
}
