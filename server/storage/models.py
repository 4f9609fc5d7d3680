"""Tables. The schema is created only by Alembic migrations (``chat-server migrate``)."""

from datetime import UTC, datetime

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Index,
    Integer,
    MetaData,
    Text,
    UniqueConstraint,
)
from sqlmodel import Field, SQLModel

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
SQLModel.metadata.naming_convention = NAMING_CONVENTION
metadata: MetaData = SQLModel.metadata

# 64-bit ids on PostgreSQL; SQLite's rowid alias must be declared INTEGER.
_BigId = BigInteger().with_variant(Integer(), "sqlite")


def utcnow() -> datetime:
    return datetime.now(UTC)


def as_utc(value: datetime) -> datetime:
    """A timestamp read back from the database: SQLite keeps no offset, and all are stored in UTC."""
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def _timestamp() -> Column[datetime]:
    return Column(DateTime(timezone=True), nullable=False)


class User(SQLModel, table=True):
    """A person as known to one provider: ``(issuer, subject)`` is the identity, never email."""

    __tablename__ = "users"
    __table_args__ = (UniqueConstraint("issuer", "subject", name="uq_users_issuer_subject"),)

    id: int | None = Field(
        default=None, sa_column=Column(_BigId, primary_key=True, autoincrement=True)
    )
    issuer: str = Field(max_length=512)
    subject: str = Field(max_length=255)
    name: str = Field(max_length=200)
    created_at: datetime = Field(default_factory=utcnow, sa_column=_timestamp())
    updated_at: datetime = Field(default_factory=utcnow, sa_column=_timestamp())
    provider_id: str | None = Field(default=None, max_length=64)
    groups: str | None = Field(default=None, sa_column=Column(Text, nullable=True))  # JSON list
    last_seen_at: datetime | None = Field(
        default=None, sa_column=Column(DateTime(timezone=True), nullable=True)
    )
    # A blocked user's connects are refused (account_blocked) on every server process.
    blocked_at: datetime | None = Field(
        default=None, sa_column=Column(DateTime(timezone=True), nullable=True)
    )


class Room(SQLModel, table=True):
    """A chat room: seeded from the configuration file, then managed by admins."""

    __tablename__ = "rooms"

    id: int | None = Field(default=None, primary_key=True)
    slug: str = Field(max_length=64, unique=True)
    name: str = Field(max_length=200)
    created_at: datetime = Field(default_factory=utcnow, sa_column=_timestamp())
    allowed_groups: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    archived_at: datetime | None = Field(
        default=None, sa_column=Column(DateTime(timezone=True), nullable=True)
    )


class Message(SQLModel, table=True):
    """A stored message with the provenance of its verified sender at send time."""

    __tablename__ = "messages"
    __table_args__ = (
        UniqueConstraint("sender_id", "client_id", name="uq_messages_sender_client_id"),
        Index("ix_messages_room_id_id", "room_id", "id"),
        # A cluster node whose subscription had a gap re-reads what was stored meanwhile.
        Index("ix_messages_created_at", "created_at"),
    )

    id: int | None = Field(
        default=None, sa_column=Column(_BigId, primary_key=True, autoincrement=True)
    )
    room_id: int = Field(foreign_key="rooms.id", ondelete="RESTRICT")
    sender_id: int = Field(sa_type=_BigId, foreign_key="users.id", ondelete="RESTRICT")
    text: str
    client_id: str | None = Field(default=None, max_length=64)
    created_at: datetime = Field(default_factory=utcnow, sa_column=_timestamp())
    sender_issuer: str = Field(max_length=512)
    sender_subject: str = Field(max_length=255)
    sender_session_id: str | None = Field(default=None, max_length=255)


class Logout(SQLModel, table=True):
    """A verified back-channel logout: replayed ``jti``s are refused, and tokens of the logged-out
    session (or subject) issued before it are refused at connect and refresh."""

    __tablename__ = "logouts"
    __table_args__ = (
        UniqueConstraint("issuer", "jti", name="uq_logouts_issuer_jti"),
        Index("ix_logouts_issuer_session_id", "issuer", "session_id"),
        Index("ix_logouts_issuer_subject", "issuer", "subject"),
        Index("ix_logouts_received_at", "received_at"),  # each sync re-reads the recent ones
    )

    id: int | None = Field(
        default=None, sa_column=Column(_BigId, primary_key=True, autoincrement=True)
    )
    issuer: str = Field(max_length=512)
    jti: str = Field(max_length=255)
    subject: str | None = Field(default=None, max_length=255)
    session_id: str | None = Field(default=None, max_length=255)
    issued_at: datetime = Field(sa_column=_timestamp())
    received_at: datetime = Field(default_factory=utcnow, sa_column=_timestamp())


class AuditEntry(SQLModel, table=True):
    """One admin action or security event, chained to the previous row by ``prev_hash``.

    Rows are only ever appended: ``hash`` covers the row's content and ``prev_hash``, so an
    edited, removed or reordered row breaks the chain (``server.audit.verify``).
    """

    __tablename__ = "audit_log"
    __table_args__ = (
        Index("ix_audit_log_created_at", "created_at"),
        Index("ix_audit_log_action", "action"),
        # SQLite's AUTOINCREMENT never hands out the id of a deleted newest row again.
        {"sqlite_autoincrement": True},
    )

    id: int | None = Field(
        default=None, sa_column=Column(_BigId, primary_key=True, autoincrement=True)
    )
    created_at: datetime = Field(default_factory=utcnow, sa_column=_timestamp())
    actor_provider: str | None = Field(default=None, max_length=64)
    actor_subject: str | None = Field(default=None, max_length=255)
    actor_name: str | None = Field(default=None, max_length=200)
    action: str = Field(max_length=64)
    target: str = Field(max_length=255)
    details: str = Field(sa_column=Column(Text, nullable=False))
    prev_hash: str = Field(max_length=64)
    hash: str = Field(max_length=64, unique=True)


class ProviderRecord(SQLModel, table=True):
    """An identity provider as the registry manages it: its whole configuration as JSON.

    Seeded from the configuration file on first start (``source = "file"``), then managed
    through the admin API; ``version`` counts its changes.
    """

    __tablename__ = "providers"

    id: str = Field(primary_key=True, max_length=64)
    config: str = Field(sa_column=Column(Text, nullable=False))
    source: str = Field(max_length=16)
    version: int = Field(default=1)
    created_at: datetime = Field(default_factory=utcnow, sa_column=_timestamp())
    updated_at: datetime = Field(default_factory=utcnow, sa_column=_timestamp())


class Revision(SQLModel, table=True):
    """A counter per kind of runtime change (providers, users, rooms), bumped in the change's
    own transaction: every server process polls it and reloads what changed."""

    __tablename__ = "revisions"

    name: str = Field(primary_key=True, max_length=32)
    value: int = Field(default=0, sa_type=BigInteger)


class Node(SQLModel, table=True):
    """A running server process, as long as its heartbeat is recent."""

    __tablename__ = "nodes"

    id: str = Field(primary_key=True, max_length=32)
    started_at: datetime = Field(sa_column=_timestamp())
    heartbeat_at: datetime = Field(sa_column=_timestamp())


class Presence(SQLModel, table=True):
    """How many live sockets a user has on one node (rows of nodes whose heartbeat is old are
    ignored, then removed)."""

    __tablename__ = "presence"

    node_id: str = Field(primary_key=True, max_length=32)
    issuer: str = Field(primary_key=True, max_length=512)
    subject: str = Field(primary_key=True, max_length=255)
    provider_id: str = Field(max_length=64)
    sessions: int
