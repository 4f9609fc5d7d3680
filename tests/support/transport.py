"""A SessionTransport that records what the session rules told the sockets."""


class RecordingTransport:
    """Remembers which sessions ended, and why (and ignores expiry warnings)."""

    def __init__(self) -> None:
        self.ended: list[tuple[str, str]] = []

    async def session_expiring(self, sid: str, expires_at: float) -> None:
        return None

    async def session_ended(self, sid: str, reason: str) -> None:
        self.ended.append((sid, reason))
