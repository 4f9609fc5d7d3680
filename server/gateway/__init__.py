"""The wire below Socket.IO events: frame rules, transport closes, polling session binding."""

from server.gateway.frames import FrameGuard
from server.gateway.packets import FrameError, JsonPacket
from server.gateway.polling import PollingBinding
from server.gateway.reaper import HalfOpenReaper
from server.gateway.server import GuardedServer

__all__ = [
    "FrameError",
    "FrameGuard",
    "GuardedServer",
    "HalfOpenReaper",
    "JsonPacket",
    "PollingBinding",
]
