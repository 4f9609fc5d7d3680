"""The JSON shapes the admin API answers with."""

import json
from datetime import UTC, datetime
from typing import Any

from server.accounts import LiveCount
from server.audit import ChainHead, ChainReport
from server.identity import AccessDeniedError, Identity, ProviderVerifier
from server.storage import AuditRecord, StoredProvider, StoredRoom, StoredUser


def timestamp(value: datetime) -> str:
    text = value.astimezone(UTC).isoformat(timespec="milliseconds")
    return text.replace("+00:00", "Z")


def identity_view(identity: Identity) -> dict[str, Any]:
    return {
        "provider": identity.provider_id,
        "issuer": identity.issuer,
        "subject": identity.subject,
        "name": identity.name,
        "groups": sorted(identity.groups),
    }


def provider_view(
    stored: StoredProvider,
    verifier: ProviderVerifier | None,
    file_differs: list[str] | None,
) -> dict[str, Any]:
    """A provider: its settings, where they came from, and its live key state."""
    status: dict[str, Any] = {"keys": "not_loaded", "key_count": 0, "seconds_since_fetch": None}
    if verifier is not None:
        keys = verifier.keys.status()
        status = {
            "keys": keys.state,
            "key_count": keys.key_count,
            "seconds_since_fetch": keys.seconds_since_fetch,
        }
    return {
        **stored.config,
        "source": stored.source,
        "version": stored.version,
        "updated_at": timestamp(stored.updated_at),
        "file_differs": file_differs or [],
        "status": status,
    }


def audit_view(record: AuditRecord) -> dict[str, Any]:
    return {
        "id": record.id,
        "created_at": timestamp(record.created_at),
        "actor": {
            "provider": record.actor_provider,
            "subject": record.actor_subject,
            "name": record.actor_name,
        },
        "action": record.action,
        "target": record.target,
        "details": json.loads(record.details),
        "prev_hash": record.prev_hash,
        "hash": record.hash,
    }


def head_view(head: ChainHead | None) -> dict[str, Any]:
    return {"id": head.id, "hash": head.hash} if head is not None else {"id": 0, "hash": None}


def report_view(report: ChainReport) -> dict[str, Any]:
    return {
        "ok": report.ok,
        "checked": report.checked,
        "head": head_view(report.head),
        "first_bad_id": report.first_bad_id,
        "problem": report.problem,
    }


def user_view(user: StoredUser, live: LiveCount | None = None) -> dict[str, Any]:
    view: dict[str, Any] = {
        "id": user.id,
        "provider": user.provider_id,
        "issuer": user.issuer,
        "subject": user.subject,
        "name": user.name,
        "groups": list(user.groups),
        "created_at": timestamp(user.created_at),
        "last_seen_at": None if user.last_seen_at is None else timestamp(user.last_seen_at),
        "blocked": user.blocked_at is not None,
        "blocked_at": None if user.blocked_at is None else timestamp(user.blocked_at),
    }
    if live is not None:
        view["live_sessions"] = {
            "total": live.total,
            "processes": live.processes,
            "here": live.here,
        }
    return view


def room_view(room: StoredRoom) -> dict[str, Any]:
    return {
        "slug": room.slug,
        "name": room.name,
        "allowed_groups": list(room.allowed_groups),
        "archived": room.archived,
    }


def preview_view(
    identity: Identity, refusal: AccessDeniedError | None, rooms: list[str]
) -> dict[str, Any]:
    return {
        "accepted": refusal is None,
        "identity": {**identity_view(identity), "email": identity.verified_email},
        "admission": {"ok": True}
        if refusal is None
        else {"ok": False, "code": refusal.code, "reason": refusal.reason},
        "rooms": rooms,  # what they would see once admitted
    }
