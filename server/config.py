"""Settings: a TOML file validated by pydantic, with ``CHAT_*`` environment overrides for secrets."""

import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from server.errors import ConfigError

__all__ = [
    "DEFAULT_ALGORITHMS",
    "AdminSettings",
    "Admission",
    "DatabaseSettings",
    "Display",
    "ProviderConfig",
    "RoomConfig",
    "ServerSettings",
    "SessionSettings",
    "Settings",
    "load_settings",
]

# Asymmetric algorithms only: "none" and HMAC are never accepted for an OIDC provider's tokens.
ALLOWED_ALGORITHMS = frozenset(
    {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}
)
DEFAULT_ALGORITHMS = ("RS256", "PS256", "ES256", "EdDSA")
_SLUG = r"^[a-z0-9][a-z0-9_-]{0,63}$"


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


def _is_loopback(host: str | None) -> bool:
    return host in {"127.0.0.1", "localhost", "::1"}


def check_http_url(value: str, what: str) -> str:
    """An https URL, or http on loopback (the dev provider); anything else is refused."""
    parts = urlsplit(value)
    if parts.scheme == "https" and parts.hostname:
        return value
    if parts.scheme == "http" and _is_loopback(parts.hostname):
        return value
    raise ValueError(f"{what} must be an https URL (http is allowed only on 127.0.0.1/localhost)")


_ACCESS_TOKEN_KEYS = (
    "audience",
    "required_scopes",
    "subject_claim",
    "access_token_issuer",
    "audience_claim",
    "access_token_required_claims",
    "allow_nonce_in_access_token",
)


def _is_set(model: BaseModel, name: str) -> bool:
    """Whether a field holds anything but its default (an explicit default counts as unset)."""
    field = type(model).model_fields[name]
    return bool(getattr(model, name) != field.get_default(call_default_factory=True))


class Admission(_Model):
    """Who of a provider's users may sign in; every rule set must pass (empty: everyone)."""

    required_groups: tuple[str, ...] = ()  # any one of them
    allowed_email_domains: tuple[str, ...] = ()  # of a verified email (email_verified true)
    required_claims: dict[str, str] = Field(default_factory=dict)  # claim path -> exact value

    @field_validator("allowed_email_domains")
    @classmethod
    def _domains(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for domain in value:
            if not domain or "@" in domain or domain != domain.strip().lower():
                raise ValueError(f"email domain {domain!r} must look like example.com (lower case)")
        return value

    @property
    def is_open(self) -> bool:
        return not (self.required_groups or self.allowed_email_domains or self.required_claims)


class Display(_Model):
    """How the provider appears on the sign-in page."""

    label: Annotated[str, Field(max_length=100)] = ""
    order: Annotated[int, Field(ge=-1000, le=1000)] = 0
    hidden: bool = False


class ProviderConfig(_Model):
    """One OpenID Connect provider whose tokens the server accepts."""

    id: Annotated[str, Field(pattern=_SLUG)]
    name: Annotated[str, Field(max_length=200)] = ""
    # A disabled provider's tokens are refused (provider_disabled) and its sockets ended.
    enabled: bool = True
    display: Display = Display()
    admission: Admission = Admission()
    issuer: str
    client_id: Annotated[str, Field(min_length=1)]
    # "access_token": an access token (JWT) for our API plus the ID token; "id_token_only": the
    # client sends the ID token alone (Google, Okta's org server: no access token for us).
    mode: Literal["access_token", "id_token_only"] = "access_token"
    audience: str = ""
    algorithms: tuple[str, ...] = DEFAULT_ALGORITHMS
    leeway_seconds: Annotated[int, Field(ge=0, le=60)] = 60
    # The claim rules: which claim names the user in each token, where name and groups come from
    # (claim paths: the whole name first, else dot-separated: "realm_access.roles").
    subject_claim: Annotated[str, Field(min_length=1)] = "sub"
    id_token_subject_claim: Annotated[str, Field(min_length=1)] = "sub"
    name_claim: Annotated[str, Field(min_length=1)] = "name"
    groups_claim: Annotated[str, Field(min_length=1)] = "groups"
    access_token_issuer: str | None = None
    audience_claim: Annotated[str, Field(min_length=1)] = "aud"
    access_token_required_claims: dict[str, str] = Field(default_factory=dict)
    id_token_required_claims: dict[str, str] = Field(default_factory=dict)
    allow_nonce_in_access_token: bool = False
    session_claim: str = "sid"  # the provider session for back-channel logout; "" for none
    required_scopes: tuple[str, ...] = ()
    require_id_token: bool = True
    scopes: str = "openid profile email"
    jwks_min_ttl_seconds: Annotated[int, Field(ge=0, le=86400)] = 60
    jwks_max_ttl_seconds: Annotated[int, Field(ge=1, le=7 * 86400)] = 86400
    jwks_default_ttl_seconds: Annotated[int, Field(ge=1, le=86400)] = 300
    jwks_max_stale_seconds: Annotated[int, Field(ge=0, le=7 * 86400)] = 3600
    jwks_min_refresh_interval_seconds: Annotated[float, Field(ge=0, le=3600)] = 30
    http_timeout_seconds: Annotated[float, Field(gt=0, le=60)] = 5

    @field_validator("issuer")
    @classmethod
    def _issuer_is_url(cls, value: str) -> str:
        return check_http_url(value, "issuer")

    @field_validator("access_token_issuer")
    @classmethod
    def _access_issuer_is_named(cls, value: str | None) -> str | None:
        # Only ever compared with `iss`, never fetched: AD FS publishes http://HOST/adfs/services/trust.
        if value is not None and not value.strip():
            raise ValueError("access_token_issuer must not be empty")
        return value

    @field_validator("algorithms")
    @classmethod
    def _asymmetric_only(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        bad = sorted(set(value) - ALLOWED_ALGORITHMS)
        if bad:
            raise ValueError(
                f"algorithms {bad} are not allowed; use asymmetric ones: {sorted(ALLOWED_ALGORITHMS)}"
            )
        if not value:
            raise ValueError("algorithms must not be empty")
        return value

    @model_validator(mode="after")
    def _ttl_bounds(self) -> "ProviderConfig":
        if self.jwks_min_ttl_seconds > self.jwks_max_ttl_seconds:
            raise ValueError("jwks_min_ttl_seconds must not exceed jwks_max_ttl_seconds")
        return self

    @model_validator(mode="after")
    def _tokens_tell_apart(self) -> "ProviderConfig":
        if self.mode == "id_token_only":
            unused = [k for k in _ACCESS_TOKEN_KEYS if _is_set(self, k)]
            if unused:
                raise ValueError(f"{unused} apply to access tokens: not with mode = id_token_only")
            return self
        if not self.audience:
            raise ValueError("audience is required with mode = access_token")
        # The audience is what separates an access token for us from an ID token for our
        # client. Where both are one app (Entra ID with a single app registration), the granted
        # scopes must: an ID token carries none. Equal and no scope required, an ID token would
        # pass as an access token (Google configured as the README used to say).
        same = self.audience_claim == "aud" and self.audience == self.client_id
        if same and not self.required_scopes:
            raise ValueError(
                "audience equals client_id: set required_scopes (an ID token carries no scope),"
                ' or use a distinct API audience, or mode = "id_token_only"'
            )
        return self

    @property
    def access_issuer(self) -> str:
        """The ``iss`` access tokens carry."""
        return self.access_token_issuer or self.issuer

    @property
    def display_name(self) -> str:
        return self.display.label or self.name or self.id


class RoomConfig(_Model):
    """A chat room; ``allowed_groups`` empty means every signed-in user may join."""

    slug: Annotated[str, Field(pattern=_SLUG)]
    name: Annotated[str, Field(min_length=1, max_length=200)]
    allowed_groups: tuple[Annotated[str, Field(min_length=1, max_length=255)], ...] = ()
    archived: bool = False  # kept with its history, but nobody can join or post


class ServerSettings(_Model):
    host: str = "127.0.0.1"
    port: Annotated[int, Field(ge=0, le=65535)] = 8000
    allowed_origins: tuple[str, ...] = ("http://127.0.0.1:8000", "http://localhost:8000")
    # Long-polling names its session only by the sid in the URL; off unless an operator opts in.
    websocket_only: bool = True
    frames_per_second: Annotated[float, Field(gt=0, le=1_000_000)] = 200
    frame_burst: Annotated[int, Field(ge=1, le=1_000_000)] = 400
    max_queued_packets: Annotated[int, Field(ge=10, le=1_000_000)] = 1000
    # Broadcast frames written straight to each WebSocket's transport when nothing is queued
    # to it (uvicorn's websockets-sansio protocol only); false: every frame via Engine.IO.
    direct_writes: bool = True
    max_message_chars: Annotated[int, Field(ge=1, le=100_000)] = 4000
    max_payload_bytes: Annotated[int, Field(ge=4096, le=16 * 1024 * 1024)] = 64 * 1024
    connect_timeout_seconds: Annotated[float, Field(gt=0, le=300)] = 10
    static_dir: str | None = None
    log_level: str = "info"
    # "json": one JSON object per line (time, level, logger, message, and the context: sid,
    # provider, subject_hash, event, code); never a token, a raw claim or message text.
    log_format: Literal["text", "json"] = "text"

    @field_validator("allowed_origins")
    @classmethod
    def _origins(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        # An empty list would make python-socketio skip the origin check entirely.
        if not value:
            raise ValueError("allowed_origins must list at least one origin")
        for origin in value:
            parts = urlsplit(origin)
            if parts.scheme not in {"http", "https"} or not parts.hostname or parts.path:
                raise ValueError(f"allowed origin {origin!r} must look like https://host[:port]")
        return value

    @model_validator(mode="after")
    def _payload_fits_message(self) -> "ServerSettings":
        # UTF-8 needs up to 4 bytes per character, plus room for the JSON envelope.
        if self.max_payload_bytes < self.max_message_chars * 4 + 1024:
            raise ValueError(
                "max_payload_bytes is too small for max_message_chars (4 bytes/char + 1 KiB)"
            )
        return self


class SessionSettings(_Model):
    """The life of a connection after connect: expiry, limits."""

    expiry_warning_seconds: Annotated[float, Field(ge=0, le=3600)] = 60
    expiry_grace_seconds: Annotated[float, Field(ge=0, le=60)] = 30
    sweep_interval_seconds: Annotated[float, Field(gt=0, le=60)] = 1
    max_connections_per_user: Annotated[int, Field(ge=1, le=1000)] = 10
    messages_per_second: Annotated[float, Field(gt=0, le=1000)] = 5
    message_burst: Annotated[int, Field(ge=1, le=10_000)] = 20
    user_messages_per_second: Annotated[float, Field(gt=0, le=10_000)] = 10
    user_message_burst: Annotated[int, Field(ge=1, le=100_000)] = 40
    events_per_second: Annotated[float, Field(gt=0, le=100_000)] = 50
    event_burst: Annotated[int, Field(ge=1, le=100_000)] = 100
    logout_retention_seconds: Annotated[int, Field(ge=3600, le=90 * 86400)] = 7 * 86400
    revocation_sync_seconds: Annotated[float, Field(gt=0, le=60)] = 5
    # How often each process writes its sign-ins (users, last seen) and its live sockets per user
    # (the admin API lists and counts them across processes).
    presence_seconds: Annotated[float, Field(gt=0, le=300)] = 5


class DatabaseSettings(_Model):
    url: str = "sqlite+aiosqlite:///./chat.db"

    @field_validator("url")
    @classmethod
    def _async_driver(cls, value: str) -> str:
        if value.startswith(("sqlite+aiosqlite://", "postgresql+asyncpg://")):
            return value
        if value.startswith(("postgresql://", "postgres://")):
            return "postgresql+asyncpg://" + value.split("://", 1)[1]
        if value.startswith("sqlite://"):
            return "sqlite+aiosqlite://" + value.split("://", 1)[1]
        raise ValueError("database url must be sqlite+aiosqlite://... or postgresql+asyncpg://...")


class AdminSubject(_Model):
    """A break-glass admin: one user of one provider, whatever their groups say."""

    provider: Annotated[str, Field(pattern=_SLUG)]
    subject: Annotated[str, Field(min_length=1, max_length=255)]


class AdminSettings(_Model):
    """Who is an admin: members of any of ``groups`` (the provider's groups claim), or one of
    ``subjects``. Empty: nobody, and every admin request is refused."""

    groups: tuple[str, ...] = ()
    # The providers whose groups claim may make an admin; unset: those of the configuration
    # file (a provider added at runtime, whose users might set their own groups, makes none
    # until listed here).
    group_providers: tuple[str, ...] | None = None
    subjects: tuple[AdminSubject, ...] = ()
    # How often each process re-reads the registry's revision (provider, block, room changes).
    sync_seconds: Annotated[float, Field(gt=0, le=10)] = 1.0
    audit_head_seconds: Annotated[float, Field(gt=0, le=86400)] = 300


class MetricsSettings(_Model):
    """Prometheus metrics: on their own listen address (off the public port), and optionally on
    the main port behind a bearer token."""

    enabled: bool = True
    host: str = "127.0.0.1"
    port: Annotated[int, Field(ge=0, le=65535)] = 9464  # 0: any free port (logged)
    # Also serve /metrics on the main port, to ``Authorization: Bearer <token>`` (env
    # CHAT_METRICS_TOKEN; never in a committed file).
    token: Annotated[str, Field(min_length=16, max_length=512)] | None = None


class ClusterSettings(_Model):
    """Several processes as one chat, through one Redis. No ``redis_url``: one process, in memory.

    Only ever a private Redis: whoever can publish on its channel can address any socket."""

    redis_url: str | None = None
    # The channel and every key start with it: deployments (or test runs) can share one Redis.
    key_prefix: Annotated[str, Field(pattern=r"^[A-Za-z0-9_.:-]{1,64}$")] = "sso-chat"
    # Each node publishes a heartbeat this often and hears its own; after three missed it is
    # degraded (/healthz) and subscribes again.
    heartbeat_seconds: Annotated[float, Field(ge=0.05, le=30)] = 1.0
    # A node's sockets count towards the cluster-wide cap until this long after its last refresh
    # (every third of it): a dead node's sockets are released by then.
    socket_ttl_seconds: Annotated[float, Field(ge=1, le=3600)] = 30.0
    # The longest a Redis call may take; past it the node's own limits apply (see the README).
    redis_timeout_seconds: Annotated[float, Field(gt=0, le=10)] = 0.5
    # After a gap in the subscription, messages stored meanwhile are delivered again, at most
    # this many and this far back.
    catch_up_messages: Annotated[int, Field(ge=0, le=100_000)] = 5000
    catch_up_seconds: Annotated[float, Field(ge=0, le=86400)] = 600

    @field_validator("redis_url")
    @classmethod
    def _redis_scheme(cls, value: str | None) -> str | None:
        if value is None or value.startswith(("redis://", "rediss://", "unix://")):
            return value
        raise ValueError("redis_url must be redis://, rediss:// or unix://")

    @property
    def enabled(self) -> bool:
        return self.redis_url is not None


class Settings(_Model):
    """The whole validated configuration."""

    server: ServerSettings = ServerSettings()
    database: DatabaseSettings = DatabaseSettings()
    sessions: SessionSettings = SessionSettings()
    admin: AdminSettings = AdminSettings()
    cluster: ClusterSettings = ClusterSettings()
    metrics: MetricsSettings = MetricsSettings()
    providers: tuple[ProviderConfig, ...]
    rooms: tuple[RoomConfig, ...] = ()

    @model_validator(mode="after")
    def _unique(self) -> "Settings":
        _require_unique([p.id for p in self.providers], "provider id")
        _require_unique(
            [i for p in self.providers for i in {p.issuer, p.access_issuer}], "provider issuer"
        )
        _require_unique([r.slug for r in self.rooms], "room slug")
        if not self.providers:
            raise ValueError("at least one [[providers]] entry is required")
        _frames_above_events(self.server, self.sessions)
        return self

    def provider(self, provider_id: str) -> ProviderConfig | None:
        return next((p for p in self.providers if p.id == provider_id), None)


def _frames_above_events(server: ServerSettings, sessions: SessionSettings) -> None:
    # Events over their budget get a rate_limited ack; only a flood far past it closes the socket.
    if server.frames_per_second < sessions.events_per_second:
        raise ValueError("server.frames_per_second must be at least sessions.events_per_second")
    if server.frame_burst < sessions.event_burst:
        raise ValueError("server.frame_burst must be at least sessions.event_burst")


def _require_unique(values: list[str], what: str) -> None:
    seen: set[str] = set()
    for value in values:
        if value in seen:
            raise ValueError(f"duplicate {what}: {value!r}")
        seen.add(value)


_ENV_OVERRIDES: dict[str, tuple[str, str]] = {
    "CHAT_DATABASE_URL": ("database", "url"),
    "CHAT_HOST": ("server", "host"),
    "CHAT_PORT": ("server", "port"),
    "CHAT_STATIC_DIR": ("server", "static_dir"),
    "CHAT_LOG_LEVEL": ("server", "log_level"),
    "CHAT_REDIS_URL": ("cluster", "redis_url"),
    "CHAT_LOG_FORMAT": ("server", "log_format"),
    "CHAT_METRICS_PORT": ("metrics", "port"),
    "CHAT_METRICS_TOKEN": ("metrics", "token"),
}


def load_settings(
    path: str | Path | None = None, environ: Mapping[str, str] | None = None
) -> Settings:
    """Read and validate the configuration.

    The path comes from the argument, else ``CHAT_CONFIG``, else ``config/dev.toml``.

    Raises:
        ConfigError: the file is missing, not TOML, or fails validation (message says where).
    """
    env = os.environ if environ is None else environ
    config_path = Path(path or env.get("CHAT_CONFIG") or "config/dev.toml")
    try:
        raw: dict[str, Any] = tomllib.loads(config_path.read_text(encoding="utf-8"))
    except OSError as exc:
        # The default is relative to the working directory: say how to name the file instead.
        hint = "" if path or env.get("CHAT_CONFIG") else " (pass --config PATH or set CHAT_CONFIG)"
        raise ConfigError(f"cannot read config file {config_path}: {exc.strerror}{hint}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{config_path} is not valid TOML: {exc}") from exc
    for variable, (section, key) in _ENV_OVERRIDES.items():
        if variable in env:
            raw.setdefault(section, {})[key] = env[variable]
    return parse_settings(raw, source=str(config_path))


def parse_settings(raw: Mapping[str, Any], source: str = "config") -> Settings:
    """Validate an already-parsed mapping.

    Raises:
        ConfigError: one line per mistake, each naming its location.
    """
    try:
        return Settings.model_validate(raw)
    except ValidationError as exc:
        lines = [
            f"  {'.'.join(str(p) for p in err['loc']) or '(top level)'}: {err['msg']}"
            for err in exc.errors()
        ]
        raise ConfigError(f"invalid configuration in {source}:\n" + "\n".join(lines)) from exc
