"""Storage errors: what a caller sees when a message could not be confirmed as stored."""

from sqlalchemy.exc import DBAPIError, IntegrityError

from server.errors import AppError


class StorageError(AppError):
    """The database refused this message (a constraint): sending it again will not help."""

    code = "internal_error"
    message = "Your message could not be stored."


class StorageUnavailableError(StorageError):
    """The store failed or did not confirm the commit in time: retry with the same ``client_id``.

    The message may have been committed after all; a retry with the same ``client_id`` returns
    the stored message instead of storing it twice.
    """

    code = "internal_error"
    message = "Your message could not be stored right now. Try again."
    retryable = True


def translate(exc: Exception) -> StorageError:
    """What a sender sees: a refused row is final, any other failure is worth a retry."""
    kind = StorageError if isinstance(exc, IntegrityError) else StorageUnavailableError
    error = kind(describe(exc))
    error.__cause__ = exc
    return error


def describe(exc: BaseException) -> str:
    """The failure's kind, never its text: a driver's message can quote the row (message text)."""
    if isinstance(exc, DBAPIError):
        orig = exc.orig
        driver = (orig.__cause__ or orig) if orig is not None else exc  # asyncpg's, if adapted
        sqlstate = getattr(orig, "sqlstate", None)
        state = f" {sqlstate}" if sqlstate else ""
        lost = ", connection lost" if exc.connection_invalidated else ""
        return f"{type(exc).__name__} ({type(driver).__name__}{state}{lost})"
    return type(exc).__name__
