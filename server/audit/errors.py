"""Audit errors: a value the log cannot record, a head string that does not parse."""

from server.errors import AppError


class AuditError(AppError):
    """Base of the audit log's errors."""

    code = "internal_error"
    message = "The audit log could not be used."


class NotCanonicalError(AuditError):
    """A value has no RFC 8785 form (NaN, Infinity, a non-JSON type, a lone surrogate): a bug."""

    code = "internal_error"
    message = "The event could not be recorded in the audit log."


class InvalidHeadError(AuditError):
    """A published head is not ``ID:HASH`` (a positive row id and 64 lowercase hex digits)."""

    code = "invalid_request"
    message = "The audit head must look like ID:HASH (a row id and 64 hex digits)."
