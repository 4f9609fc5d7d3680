"""AccountService: the admin's use cases on users. Blocks reach every process through the
``users`` revision; ended sessions through a stored logout (the same path as a provider's)."""

import uuid
from dataclasses import dataclass

from server.audit import Actor, AuditLog
from server.errors import AppError
from server.identity import Clock, LogoutRequest
from server.sessions import Presence, SessionService
from server.storage import StoredUser, UserRepository


@dataclass(frozen=True, slots=True)
class LiveCount:
    total: int
    processes: int
    here: int


class UserNotFoundError(AppError):
    code = "not_found"
    message = "There is no such user."


class AccountService:
    def __init__(
        self,
        users: UserRepository,
        sessions: SessionService,
        presence: Presence,
        audit: AuditLog,
        clock: Clock,
    ) -> None:
        self._users = users
        self._sessions = sessions
        self._presence = presence
        self._audit = audit
        self._clock = clock

    async def search(self, query: str | None, after: int, limit: int) -> list[StoredUser]:
        """Users by name or subject; this process's latest sign-ins are written first."""
        await self._sessions.users.flush()
        return await self._users.search(query, after, limit)

    async def get(self, user_id: int) -> StoredUser:
        """Raises UserNotFoundError (not_found)."""
        await self._sessions.users.flush()
        user = await self._users.get(user_id)
        if user is None:
            raise UserNotFoundError(str(user_id))
        return user

    async def live_sessions(self, user: StoredUser) -> LiveCount:
        """The user's live sockets: on every process (as of each one's last presence write,
        at most ``[sessions] presence_seconds`` old) and on this one (now)."""
        key = (user.issuer, user.subject)
        await self._presence.publish()  # this process's part is current, the others' recent
        total, nodes = await self._presence.count(key)
        here = self._sessions.count_where(lambda i: i.key == key)
        return LiveCount(total=total, processes=nodes, here=here)

    async def block(self, actor: Actor, user_id: int, blocked: bool) -> tuple[StoredUser, int]:
        """Block (or unblock) a user; a block ends their live sockets (``blocked``) here at once
        and on every other process at its next sync. Returns the user and how many ended here.

        Raises:
            UserNotFoundError (not_found).
        """
        before = await self.get(user_id)
        key = (before.issuer, before.subject)
        live = self._sessions.count_where(lambda i: i.key == key) if blocked else 0
        user = await self._users.set_blocked(user_id, blocked)
        if user is None:
            raise UserNotFoundError(str(user_id))
        await self._audit.record(
            actor,
            "user.block" if blocked else "user.unblock",
            f"user:{user_id}",
            before={"blocked": before.blocked_at is not None},
            after={"blocked": blocked},
            subject=user.subject,
            issuer=user.issuer,
        )
        # The same path as a block made on another process (the sync job may get there first).
        await self._sessions.enforce_blocks()
        return user, live

    async def end_sessions(self, actor: Actor, user_id: int) -> int:
        """Sign a user out everywhere: a logout of every token issued until now, stored so every
        process ends their sockets (``logged_out``) and refuses those tokens. Returns how many
        ended here.

        Raises:
            UserNotFoundError (not_found).
        """
        user = await self.get(user_id)
        request = LogoutRequest(
            provider_id=user.provider_id or "",
            issuer=user.issuer,
            jti=f"admin-{uuid.uuid4()}",
            subject=user.subject,
            session_id=None,
            issued_at=self._clock.now(),
        )
        ended = await self._sessions.sign_out(request)
        await self._audit.record(
            actor, "user.end_sessions", f"user:{user_id}", subject=user.subject, ended_here=ended
        )
        return ended
