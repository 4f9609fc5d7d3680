"""RoomDirectory: the rooms by slug and the ids the database gave them, shared by the chat's
rules and the message writer (which names a stored message's room by its slug)."""

from collections.abc import Mapping, Sequence

from server.config import RoomConfig
from server.storage import StoredRoom


class RoomDirectory:
    """The current rooms; replaced as a whole, so a reader never sees half a change."""

    def __init__(self, rooms: Sequence[RoomConfig]) -> None:
        self._rooms = {room.slug: room for room in rooms}
        self._ids: dict[str, int] = {}
        self._slugs: dict[int, str] = {}

    def get(self, slug: str) -> RoomConfig | None:
        return self._rooms.get(slug)

    def all(self) -> list[RoomConfig]:
        return list(self._rooms.values())

    def seeds(self) -> list[tuple[str, str, tuple[str, ...], bool]]:
        """``(slug, name, allowed_groups, archived)`` of every room, as the repository seeds them."""
        return [
            (room.slug, room.name, room.allowed_groups, room.archived)
            for room in self._rooms.values()
        ]

    def replace(self, stored: Sequence[StoredRoom]) -> None:
        """The rooms as the table has them (each assignment whole: readers never see a mix)."""
        self._rooms = {
            room.slug: RoomConfig(
                slug=room.slug,
                name=room.name,
                allowed_groups=room.allowed_groups,
                archived=room.archived,
            )
            for room in stored
        }
        self.bind_ids({room.slug: room.id for room in stored})

    def bind_ids(self, ids: Mapping[str, int]) -> None:
        """The database ids of the rooms (after they were made to exist)."""
        self._ids = dict(ids)
        self._slugs = {room_id: slug for slug, room_id in ids.items()}

    def id_of(self, slug: str) -> int:
        return self._ids[slug]

    def slug_of(self, room_id: int) -> str:
        return self._slugs.get(room_id, "")
