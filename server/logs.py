"""Logging set-up: text lines, or one JSON object per line for a log pipeline.

The JSON form carries ``time``, ``level``, ``logger``, ``message`` and, when the code that logs
knows them, the context fields a record is given with ``extra=`` (``sid``, ``provider``,
``subject_hash``, ``event``, ``code``). Messages are the same text as in the text form: they
never hold a token, a raw claim or message text (the rule for every log line of ours).
"""

import hashlib
import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any

CONTEXT_FIELDS = ("sid", "provider", "subject_hash", "event", "code")
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def subject_hash(issuer: str, subject: str) -> str:
    """A stable pseudonym for a user in logs: the same user, the same 16 hex digits."""
    return hashlib.sha256(f"{issuer}\n{subject}".encode()).hexdigest()[:16]


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name in CONTEXT_FIELDS:
            value = record.__dict__.get(name)
            if value is not None:
                entry[name] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


def configure(log_format: str, level: str) -> None:
    """The root logger and uvicorn's, in one format, to standard error."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        JsonFormatter() if log_format == "json" else logging.Formatter(TEXT_FORMAT)
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        uvicorn_logger = logging.getLogger(name)
        uvicorn_logger.handlers[:] = []
        uvicorn_logger.propagate = True
