"""ChatNamespace: the only module that speaks Socket.IO. Errors become refusals or error acks here."""

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import socketio
import socketio.exceptions

from server.chat.errors import InvalidPayloadError, UnknownEventError
from server.chat.events import (
    MESSAGE_POSTED,
    EmptyPayload,
    FetchHistoryPayload,
    RoomPayload,
    SendMessagePayload,
    parse,
)
from server.chat.service import ChatService, message_view
from server.errors import AppError
from server.identity import Identity, IdentityError, InvalidRequestError, TokenVerifier

logger = logging.getLogger(__name__)

Ack = dict[str, Any]
REFUSED_CLOSE_DELAY_SECONDS = 1.0
Handler = Callable[["ChatNamespace", str, Any], Awaitable[Ack]]


@dataclass(frozen=True, slots=True)
class Connection:
    """What is bound to a socket at connect; replaced only by the server itself."""

    identity: Identity
    user_id: int


def socket_room(slug: str) -> str:
    return f"room:{slug}"


def bearer_tokens(auth: object) -> tuple[object, object | None]:
    """The tokens from the Socket.IO ``auth`` payload ``{access_token, id_token}``.

    Raises:
        InvalidRequestError (invalid_request): no object, or no access token.
    """
    if not isinstance(auth, dict) or "access_token" not in auth:
        raise InvalidRequestError("auth payload without access_token")
    return auth["access_token"], auth.get("id_token")


def _is_real_connect(args: tuple[Any, ...]) -> bool:
    # python-socketio routes an EVENT packet named "connect" to this namespace's on_connect too.
    # Only the server's own connect carries an ASGI environ with a callable receive channel,
    # which JSON from a client cannot forge.
    return len(args) >= 2 and isinstance(args[1], dict) and callable(args[1].get("asgi.receive"))


class ChatNamespace(socketio.AsyncNamespace):  # type: ignore[misc]  # socketio ships no type information
    """Connect-time verification, then chat events answered by acks."""

    def __init__(self, verifier: TokenVerifier, chat: ChatService, namespace: str = "/") -> None:
        super().__init__(namespace)
        self._verifier = verifier
        self._chat = chat
        self._handlers: dict[str, Handler] = {
            "list_rooms": ChatNamespace._list_rooms,
            "join": ChatNamespace._join,
            "leave": ChatNamespace._leave,
            "send_message": ChatNamespace._send_message,
            "fetch_history": ChatNamespace._fetch_history,
        }

    async def trigger_event(self, event: str, *args: Any) -> Any:
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

    async def _dispatch(self, event: str, args: tuple[Any, ...]) -> Ack:
        sid = args[0]
        try:
            handler = self._handlers.get(event)
            if handler is None:
                raise UnknownEventError(repr(event)[:80])
            if len(args) > 2:
                raise InvalidPayloadError("more than one payload argument")
            return await handler(self, sid, args[1] if len(args) > 1 else None)
        except AppError as exc:
            logger.info("event %s from %s refused: %s (%s)", event[:80], sid, exc.code, exc)
            return {"ok": False, "error": exc.public()}
        except Exception:
            logger.exception("event %s from %s failed", event[:80], sid)
            return {"ok": False, "error": AppError().public()}

    async def on_connect(self, sid: str, environ: dict[str, Any], auth: object = None) -> None:
        try:
            access_token, id_token = bearer_tokens(auth)
            identity = await self._verifier.verify(access_token, id_token)
            user_id = await self._chat.register(identity)
        except IdentityError as exc:
            logger.info("connect %s refused: %s (%s)", sid, exc.code, exc)
            self._close_transport_soon(sid)
            raise socketio.exceptions.ConnectionRefusedError(
                exc.message, {"code": exc.code, "retryable": exc.retryable}
            ) from exc
        except Exception as exc:
            logger.exception("connect %s failed", sid)
            self._close_transport_soon(sid)
            error = AppError()
            raise socketio.exceptions.ConnectionRefusedError(
                error.message, {"code": error.code, "retryable": True}
            ) from exc
        await self.save_session(sid, {"connection": Connection(identity, user_id)})
        logger.info("connect %s: %s/%s", sid, identity.provider_id, identity.subject)

    def _close_transport_soon(self, sid: str) -> None:
        # A refused client has nothing left to do on this connection; well-behaved clients close it
        # themselves on connect_error, the others are cut off once the refusal has been delivered.
        eio_sid = self.server.manager.eio_sid_from_sid(sid, self.namespace)
        if eio_sid is not None:
            self.server.start_background_task(self._close_transport, eio_sid)

    async def _close_transport(self, eio_sid: str) -> None:
        await asyncio.sleep(REFUSED_CLOSE_DELAY_SECONDS)
        await self.server.eio.disconnect(eio_sid)

    async def on_disconnect(self, sid: str, reason: object = None) -> None:
        logger.info("disconnect %s (%s)", sid, reason)

    async def _connection(self, sid: str) -> Connection:
        session = await self.get_session(sid)
        connection = session.get("connection")
        if not isinstance(connection, Connection):
            raise AppError(f"{sid} has no bound identity")  # unreachable: connect binds one
        return connection

    async def _list_rooms(self, sid: str, data: Any) -> Ack:
        parse(EmptyPayload, data)
        identity = (await self._connection(sid)).identity
        rooms = [{"slug": r.slug, "name": r.name} for r in self._chat.visible_rooms(identity)]
        return {"ok": True, "rooms": rooms}

    async def _join(self, sid: str, data: Any) -> Ack:
        payload = parse(RoomPayload, data)
        room = self._chat.room((await self._connection(sid)).identity, payload.room)
        await self.enter_room(sid, socket_room(room.slug))
        return {"ok": True, "room": {"slug": room.slug, "name": room.name}}

    async def _leave(self, sid: str, data: Any) -> Ack:
        payload = parse(RoomPayload, data)
        await self.leave_room(sid, socket_room(payload.room))
        return {"ok": True}

    async def _send_message(self, sid: str, data: Any) -> Ack:
        payload = parse(SendMessagePayload, data)
        connection = await self._connection(sid)
        stored, created = await self._chat.post(connection.identity, connection.user_id, payload)
        message = message_view(stored)  # the row is committed: now it may be acked and broadcast
        if created:
            await self.emit(MESSAGE_POSTED, message, room=socket_room(stored.room_slug))
        return {"ok": True, "message": message}

    async def _fetch_history(self, sid: str, data: Any) -> Ack:
        payload = parse(FetchHistoryPayload, data)
        identity = (await self._connection(sid)).identity
        messages, has_more = await self._chat.history(identity, payload)
        return {"ok": True, "messages": [message_view(m) for m in messages], "has_more": has_more}
