"""RoomCuration: what admins do to rooms (create, rename, restrict, archive, delete), audited.

Each change is written with a ``rooms`` revision: this process applies it at once, the others at
their next ``ChatService.sync_rooms``; live sockets that may no longer see a room get
``room_access_revoked``.
"""

from collections.abc import Iterable, Mapping
from typing import Any

from pydantic import ValidationError

from server.audit import Actor, AuditLog
from server.chat.service import ChatService
from server.config import RoomConfig
from server.errors import AppError, InvalidFieldsError
from server.identity import Identity
from server.storage import RoomRepository, StoredRoom, UserRepository


class RoomNotFoundAdminError(AppError):
    code = "not_found"
    message = "There is no such room."


class RoomInFileError(AppError):
    code = "room_in_file"
    message = "This room comes from the configuration file: remove it there, or archive it here."


class RoomExistsError(AppError):
    code = "conflict"
    message = "A room with this slug exists."


EDITABLE = frozenset({"name", "allowed_groups", "archived"})
MAX_IMPACT_USERS = 100_000  # the most recently seen ones, beyond which the figure is a sample


class RoomCuration:
    def __init__(
        self,
        store: RoomRepository,
        chat: ChatService,
        audit: AuditLog,
        users: UserRepository,
        file_rooms: Iterable[str] = (),
    ) -> None:
        self._users = users
        self._file_rooms = frozenset(file_rooms)  # re-seeded at every start: never deleted
        self._store = store
        self._chat = chat
        self._audit = audit

    def visible_to(self, identity: Identity) -> list[str]:
        """The slugs of the rooms this identity may see now."""
        return [room.slug for room in self._chat.visible_rooms(identity)]

    async def impact(self, slug: str, allowed_groups: Iterable[str]) -> dict[str, int]:
        """What new ``allowed_groups`` would do to the users the server knows (their groups as
        of their last sign-in): how many may see the room now, how many would lose, gain it.

        Raises:
            RoomNotFoundAdminError (not_found).
        """
        room = await self.get(slug)
        now, then = frozenset(room.allowed_groups), frozenset(allowed_groups)
        counts = {"known_users": 0, "may_see": 0, "would_lose": 0, "would_gain": 0}
        for groups in await self._users.all_groups(MAX_IMPACT_USERS):
            before, after = _sees(now, groups), _sees(then, groups)
            counts["known_users"] += 1
            counts["may_see"] += before
            counts["would_lose"] += before and not after
            counts["would_gain"] += after and not before
        return counts

    async def list(self) -> list[StoredRoom]:
        return await self._store.rooms()

    async def get(self, slug: str) -> StoredRoom:
        found = next((r for r in await self._store.rooms() if r.slug == slug), None)
        if found is None:
            raise RoomNotFoundAdminError(slug)
        return found

    async def create(self, actor: Actor, fields: Mapping[str, Any]) -> StoredRoom:
        """Raises InvalidFieldsError (invalid_request), RoomExistsError (conflict)."""
        room = _validated(fields)
        if room.archived:
            raise InvalidFieldsError("a new room is not archived")
        if not await self._store.insert(room.slug, room.name, room.allowed_groups):
            raise RoomExistsError(room.slug)
        await self._chat.reload_rooms()
        await self._audit.record(actor, "room.create", f"room:{room.slug}", after=_view(room))
        return await self.get(room.slug)

    async def update(self, actor: Actor, slug: str, patch: Mapping[str, Any]) -> StoredRoom:
        """Change name, allowed_groups or archived.

        Raises:
            RoomNotFoundAdminError (not_found), InvalidFieldsError (invalid_request).
        """
        unknown = set(patch) - EDITABLE
        if unknown:
            raise InvalidFieldsError(
                "not editable",
                [{"field": f, "problem": "cannot be changed"} for f in sorted(unknown)],
            )
        current = await self.get(slug)
        before = {
            "slug": slug,
            "name": current.name,
            "allowed_groups": list(current.allowed_groups),
            "archived": current.archived,
        }
        room = _validated({**before, **patch})
        if not await self._store.update(slug, room.name, room.allowed_groups, room.archived):
            raise RoomNotFoundAdminError(slug)
        await self._chat.reload_rooms()
        await self._audit.record(
            actor, "room.update", f"room:{slug}", before=before, after=_view(room)
        )
        return await self.get(slug)

    async def delete(self, actor: Actor, slug: str) -> None:
        """Raises RoomNotFoundAdminError (not_found), RoomInFileError (room_in_file),
        RoomInUseError (conflict: it has messages)."""
        current = await self.get(slug)
        if slug in self._file_rooms:
            raise RoomInFileError(slug)
        if not await self._store.delete(slug):
            raise RoomNotFoundAdminError(slug)
        await self._chat.reload_rooms()
        before = {"name": current.name, "allowed_groups": list(current.allowed_groups)}
        await self._audit.record(actor, "room.delete", f"room:{slug}", before=before)


def _sees(allowed: frozenset[str], groups: tuple[str, ...]) -> bool:
    return not allowed or not allowed.isdisjoint(groups)


def _validated(fields: Mapping[str, Any]) -> RoomConfig:
    try:
        return RoomConfig.model_validate(fields)
    except ValidationError as exc:
        raise InvalidFieldsError.from_validation(exc) from exc


def _view(room: RoomConfig) -> dict[str, Any]:
    return room.model_dump(mode="json")
