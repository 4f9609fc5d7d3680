"""AdminGuard: who is asking, on every admin request. Tokens verified exactly as at connect."""

from collections.abc import Iterable
from dataclasses import dataclass

from starlette.datastructures import Headers

from server.admin.errors import NotAnAdminError, NotAuthenticatedError
from server.audit import Actor, AuditLog
from server.config import AdminSettings
from server.identity import Identity
from server.sessions import SessionService

MAX_TOKEN_CHARS = 16 * 1024


@dataclass(frozen=True, slots=True)
class Admin:
    """A verified administrator, as the audit log names them."""

    identity: Identity

    @property
    def actor(self) -> Actor:
        i = self.identity
        return Actor(provider_id=i.provider_id, issuer=i.issuer, subject=i.subject, name=i.name)


def bearer_token(headers: Headers) -> str | None:
    """The token of ``Authorization: Bearer <token>``; ``None`` when there is no such header.

    Raises:
        NotAuthenticatedError (invalid_token): another scheme, or no token after it.
    """
    value = headers.get("authorization")
    if value is None:
        return None
    scheme, _, token = value.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token or len(token) > MAX_TOKEN_CHARS:
        raise NotAuthenticatedError("Authorization is not a Bearer token")
    return token


class AdminGuard:
    """Authenticates (the session rules of a connect) and authorizes (the ``[admin]`` table)."""

    def __init__(
        self,
        sessions: SessionService,
        settings: AdminSettings,
        audit: AuditLog,
        file_providers: Iterable[str],
    ) -> None:
        self._sessions = sessions
        self._groups = frozenset(settings.groups)
        trusted = settings.group_providers
        self._group_providers = frozenset(file_providers if trusted is None else trusted)
        self._subjects = {(s.provider, s.subject) for s in settings.subjects}
        self._audit = audit

    async def admit(self, headers: Headers, what: str, *, audit_refusal: bool = True) -> Admin:
        """The admin behind this request.

        Raises:
            NotAuthenticatedError (invalid_token): no token.
            IdentityError / SessionError: the tokens do not prove a live session (their code).
            NotAnAdminError (forbidden): a valid user who is not an admin (audited, unless
                ``audit_refusal`` is false: the web app's "am I an admin?" question).
        """
        access_token = bearer_token(headers)
        id_token = headers.get("x-id-token")
        if access_token is None and id_token is None:
            raise NotAuthenticatedError("no Authorization header")
        if id_token is not None and len(id_token) > MAX_TOKEN_CHARS:
            raise NotAuthenticatedError("X-Id-Token too long")
        # Admission rules decide who chats; who administers is the [admin] table's question, so
        # a rule an admin sets can never lock the admins out of the API that undoes it.
        identity = await self._sessions.authenticate(access_token, id_token, admit=False)
        if not self.is_admin(identity):
            if audit_refusal:
                await self._refused(identity, what)
            raise NotAnAdminError(f"{identity.provider_id}/{identity.subject} is not an admin")
        return Admin(identity)

    def is_admin(self, identity: Identity) -> bool:
        if (identity.provider_id, identity.subject) in self._subjects:
            return True
        if identity.provider_id not in self._group_providers:
            return False
        return not identity.groups.isdisjoint(self._groups)

    async def _refused(self, identity: Identity, what: str) -> None:
        await self._audit.note(Admin(identity).actor, "admin.refused", what, reason="not an admin")
