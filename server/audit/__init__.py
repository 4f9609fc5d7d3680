"""Audit: the tamper-evident log of admin actions and security events (canonical JSON, a hash
chain, ``verify``), and masking so secrets never reach it."""

from server.audit.canonical import canonical_bytes, canonical_json, format_number
from server.audit.chain import (
    ChainHead,
    ChainReport,
    Problem,
    entry_hash,
    parse_head,
    verify,
)
from server.audit.errors import AuditError, InvalidHeadError, NotCanonicalError
from server.audit.log import SYSTEM, Actor, AuditLog
from server.audit.masking import MASK, is_secret_key, mask

__all__ = [
    "MASK",
    "SYSTEM",
    "Actor",
    "AuditError",
    "AuditLog",
    "ChainHead",
    "ChainReport",
    "InvalidHeadError",
    "NotCanonicalError",
    "Problem",
    "canonical_bytes",
    "canonical_json",
    "entry_hash",
    "format_number",
    "is_secret_key",
    "mask",
    "parse_head",
    "verify",
]
