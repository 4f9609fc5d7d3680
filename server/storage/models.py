"""Tables. The schema is created only by Alembic migrations (``chat-server migrate``)."""

from datetime import UTC, datetime

from sqlalchemy import BigInteger, Column, DateTime, Index, Integer, MetaData, UniqueConstraint
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


class Room(SQLModel, table=True):
    """A chat room; its slug and name come from configuration."""

    __tablename__ = "rooms"

    id: int | None = Field(default=None, primary_key=True)
    slug: str = Field(max_length=64, unique=True)
    name: str = Field(max_length=200)
    created_at: datetime = Field(default_factory=utcnow, sa_column=_timestamp())


class Message(SQLModel, table=True):
    """A stored message with the provenance of its verified sender at send time."""

    __tablename__ = "messages"
    __table_args__ = (
        UniqueConstraint("sender_id", "client_id", name="uq_messages_sender_client_id"),
        Index("ix_messages_room_id_id", "room_id", "id"),
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
