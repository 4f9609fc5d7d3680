"""ChatNamespace: the only module that speaks Socket.IO. Errors become refusals or error acks here."""

import logging
from collections.abc import Awaitable, Callable
from typing import Any

import socketio
import socketio.exceptions

from server.chat.errors import InvalidPayloadError, UnknownEventError
from server.chat.events import (
    MESSAGE_POSTED,
    ROOM_ACCESS_REVOKED,
    SESSION_ENDED,
    SESSION_EXPIRING,
    EmptyPayload,
    FetchHistoryPayload,
    RefreshTokenPayload,
    RoomPayload,
    SendMessagePayload,
    parse,
)
from server.chat.service import ChatService, message_view
from server.errors import AppError, UnexpectedError
from server.identity import IdentityError, InvalidRequestError
from server.logs import subject_hash
from server.metrics import OK, ChatMetrics
from server.sessions import LiveSession, SessionError, SessionService

logger = logging.getLogger(__name__)

Ack = dict[str, Any]
REFUSED_CLOSE_DELAY_SECONDS = 1.0
Handler = Callable[["ChatNamespace", str, Any], Awaitable[Ack]]


def socket_room(slug: str) -> str:
    return f"room:{slug}"


def bearer_tokens(auth: object) -> tuple[object, object | None]:
    """The tokens from the Socket.IO ``auth`` payload ``{access_token, id_token}``; a provider
    whose ``mode`` is ``id_token_only`` gets ``{id_token}`` alone (access token ``None``).

    Raises:
        InvalidRequestError (invalid_request): no object, or neither token.
    """
    if not isinstance(auth, dict) or not ({"access_token", "id_token"} & auth.keys()):
        raise InvalidRequestError("auth payload without access_token")
    access_token = auth.get("access_token")
    if "access_token" in auth and access_token is None:
        raise InvalidRequestError("auth payload with a null access_token")
    return access_token, auth.get("id_token")


def _is_real_connect(args: tuple[Any, ...]) -> bool:
    # python-socketio routes an EVENT packet named "connect" to this namespace's on_connect too.
    # Only the server's own connect carries an ASGI environ with a callable receive channel,
    # which JSON from a client cannot forge.
    return len(args) >= 2 and isinstance(args[1], dict) and callable(args[1].get("asgi.receive"))


class ChatNamespace(socketio.AsyncNamespace):  # type: ignore[misc]  # socketio ships no type information
    """Connect-time verification, then chat events answered by acks. An adapter only: the rules
    live in ``SessionService`` and ``ChatService``; this class is their ``SessionTransport``."""

    def __init__(
        self,
        chat: ChatService,
        sessions: SessionService,
        namespace: str = "/",
        metrics: ChatMetrics | None = None,
    ) -> None:
        super().__init__(namespace)
        self._chat = chat
        self._sessions = sessions
        self._event_counts = (metrics or ChatMetrics()).events
        self._handlers: dict[str, Handler] = {
            "refresh_token": ChatNamespace._refresh_token,
            "list_rooms": ChatNamespace._list_rooms,
            "join": ChatNamespace._join,
            "leave": ChatNamespace._leave,
            "send_message": ChatNamespace._send_message,
            "fetch_history": ChatNamespace._fetch_history,
        }

    async def trigger_event(self, event: object, *args: Any) -> Any:
        if event == "connect":
            if not _is_real_connect(args):
                logger.warning("dropped a client-sent 'connect' event from %s", args[0])
                return None
            return await super().trigger_event(event, *args)
        if event == "disconnect":
            if self.server.manager.is_connected(args[0], self.namespace):
                logger.warning("dropped a client-sent 'disconnect' event from %s", args[0])
                return None
            return await super().trigger_event(event, *args)
        return await self._dispatch(event, args)

    async def _dispatch(self, event: object, args: tuple[Any, ...]) -> Ack:
        sid = args[0]
        # Event names come from the client: any JSON value. Logged with %r, cut short.
        name = event[:80] if isinstance(event, str) else repr(event)[:80]
        try:
            # Every event is charged first, known or not: junk must not be free.
            self._sessions.check_event_rate(self._connection(sid))
            handler = self._handlers.get(event) if isinstance(event, str) else None
            if handler is None:
                raise UnknownEventError(repr(name))
            if len(args) > 2:
                raise InvalidPayloadError("more than one payload argument")
            ack = await handler(self, sid, args[1] if len(args) > 1 else None)
        except AppError as exc:
            # A flood of refused events must not become a flood of log lines.
            level = logging.DEBUG if exc.code == "rate_limited" else logging.INFO
            context = {"sid": sid, "event": self._known(event), "code": exc.code}
            logger.log(
                level, "event %r from %s refused: %s (%s)", name, sid, exc.code, exc, extra=context
            )
            self._count(event, exc.code)
            return {"ok": False, "error": exc.public()}
        except Exception:
            error = UnexpectedError()
            context = {"sid": sid, "event": self._known(event), "code": error.code}
            logger.exception("event %r from %s failed", name, sid, extra=context)
            self._count(event, error.code)
            return {"ok": False, "error": error.public()}
        self._count(event, OK)
        return ack

    def _count(self, event: object, code: str) -> None:
        self._event_counts.labels(self._known(event), code).inc()

    def _known(self, event: object) -> str:
        # Event names come from the client: only the known ones are labels (and log fields).
        return event if isinstance(event, str) and event in self._handlers else "other"

    async def on_connect(self, sid: str, environ: dict[str, Any], auth: object = None) -> None:
        try:
            access_token, id_token = bearer_tokens(auth)
            identity = (await self._sessions.connect(sid, access_token, id_token)).identity
        except (IdentityError, SessionError) as exc:
            logger.info(
                "connect %s refused: %s (%s)",
                sid,
                exc.code,
                exc,
                extra={"sid": sid, "code": exc.code},
            )
            self._close_transport_soon(sid)
            raise socketio.exceptions.ConnectionRefusedError(
                exc.message, {"code": exc.code, "retryable": exc.retryable}
            ) from exc
        except Exception as exc:
            error = UnexpectedError()
            logger.exception("connect %s failed", sid, extra={"sid": sid, "code": error.code})
            self._close_transport_soon(sid)
            raise socketio.exceptions.ConnectionRefusedError(
                error.message, {"code": error.code, "retryable": error.retryable}
            ) from exc
        context = {
            "sid": sid,
            "provider": identity.provider_id,
            "subject_hash": subject_hash(identity.issuer, identity.subject),
        }
        logger.info("connect %s: %s/%s", sid, identity.provider_id, identity.subject, extra=context)

    def _close_transport_soon(self, sid: str) -> None:
        # A refused client has nothing left to do on this connection; well-behaved clients close it
        # themselves on connect_error, the others are cut off once the refusal has been delivered.
        eio_sid = self.server.manager.eio_sid_from_sid(sid, self.namespace)
        if eio_sid is not None:
            self.server.close_soon(eio_sid, delay=REFUSED_CLOSE_DELAY_SECONDS)

    async def on_disconnect(self, sid: str, reason: object = None) -> None:
        self._sessions.remove(sid)
        logger.info("disconnect %s (%s)", sid, reason, extra={"sid": sid})

    def _connection(self, sid: str) -> LiveSession:
        return self._sessions.current(sid)

    async def session_expiring(self, sid: str, expires_at: float) -> None:
        await self.emit(SESSION_EXPIRING, {"expires_at": expires_at}, to=sid)

    async def session_ended(self, sid: str, reason: str) -> None:
        await self.emit(SESSION_ENDED, {"reason": reason}, to=sid)
        await self.disconnect(sid)

    async def _refresh_token(self, sid: str, data: Any) -> Ack:
        payload = parse(RefreshTokenPayload, data)
        self._connection(sid)  # only a bound socket may refresh
        session = await self._sessions.refresh_tokens(sid, payload.access_token, payload.id_token)
        await self._revoke_rooms(sid, session)
        return {"ok": True, "expires_at": session.identity.expires_at}

    async def rooms_changed(self) -> None:
        for session in self._sessions.registry.sessions():
            await self._revoke_rooms(session.sid, session)

    async def _revoke_rooms(self, sid: str, session: LiveSession) -> None:
        for name in self.rooms(sid):
            if not name.startswith("room:"):
                continue
            slug = name.removeprefix("room:")
            if not self._chat.may_access(session.identity, slug):
                await self.leave_room(sid, name)
                await self.emit(ROOM_ACCESS_REVOKED, {"room": slug}, to=sid)

    async def _list_rooms(self, sid: str, data: Any) -> Ack:
        parse(EmptyPayload, data)
        identity = self._connection(sid).identity
        rooms = [{"slug": r.slug, "name": r.name} for r in self._chat.visible_rooms(identity)]
        return {"ok": True, "rooms": rooms}

    async def _join(self, sid: str, data: Any) -> Ack:
        payload = parse(RoomPayload, data)
        room = self._chat.room(self._connection(sid).identity, payload.room)
        await self.enter_room(sid, socket_room(room.slug))
        return {"ok": True, "room": {"slug": room.slug, "name": room.name}}

    async def _leave(self, sid: str, data: Any) -> Ack:
        payload = parse(RoomPayload, data)
        await self.leave_room(sid, socket_room(payload.room))
        return {"ok": True}

    async def _send_message(self, sid: str, data: Any) -> Ack:
        payload = parse(SendMessagePayload, data)
        stored, created = await self._chat.send(self._connection(sid), payload)
        message = message_view(stored)  # the row is committed: now it may be acked and broadcast
        if created:
            await self.emit(MESSAGE_POSTED, message, room=socket_room(stored.room_slug))
        return {"ok": True, "message": message}

    async def _fetch_history(self, sid: str, data: Any) -> Ack:
        payload = parse(FetchHistoryPayload, data)
        identity = self._connection(sid).identity
        messages, has_more = await self._chat.history(identity, payload)
        return {"ok": True, "messages": [message_view(m) for m in messages], "has_more": has_more}
