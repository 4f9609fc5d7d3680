"""Admin routes for the audit log: pages with filters, the head, verification."""

from datetime import UTC, datetime

from starlette.requests import Request
from starlette.responses import Response

from server.admin.errors import BadRequestError
from server.admin.guard import Admin
from server.admin.requests import MAX_PAGE, query_int, query_str
from server.admin.responses import Table, json_response
from server.admin.views import audit_view, head_view, report_view
from server.audit import AuditLog, parse_head


class AuditRoutes:
    def __init__(self, audit: AuditLog) -> None:
        self._audit = audit

    def table(self) -> Table:
        return [
            ("GET", "/audit", self.audit_page),
            ("GET", "/audit/head", self.audit_head),
            ("GET", "/audit/verify", self.audit_verify),
        ]

    async def audit_page(self, request: Request, _: Admin) -> Response:
        after = query_int(request, "after", 0, 0, 2**62)
        limit = query_int(request, "limit", 100, 1, MAX_PAGE)
        records = await self._audit.page(
            after,
            limit,
            action=query_str(request, "action", 64),
            actor_subject=query_str(request, "actor"),
            since=_query_time(request, "since"),
            until=_query_time(request, "until"),
        )
        next_after = records[-1].id if len(records) == limit else None
        entries = [audit_view(r) for r in records]
        return json_response({"entries": entries, "next_after": next_after})

    async def audit_head(self, _: Request, __: Admin) -> Response:
        return json_response({"head": head_view(await self._audit.head())})

    async def audit_verify(self, request: Request, _: Admin) -> Response:
        raw = query_str(request, "head", 100)
        head = parse_head(raw) if raw is not None else None
        return json_response({"report": report_view(await self._audit.verify(head))})


def _query_time(request: Request, name: str) -> datetime | None:
    """An ISO 8601 time (UTC unless it says otherwise)."""
    raw = query_str(request, name, 40)
    if raw is None:
        return None
    try:
        value = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError as exc:
        raise BadRequestError(f"{name} must be an ISO 8601 time") from exc
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)
