"""The wire below Socket.IO events: frame rules, transport closes, polling session binding,
and broadcasts written once per frame."""

from server.gateway.fanout import FanoutManager
from server.gateway.frames import FrameGuard
from server.gateway.outlet import DirectFrames, Outlet
from server.gateway.packets import FrameError, JsonPacket
from server.gateway.polling import PollingBinding
from server.gateway.reaper import HalfOpenReaper
from server.gateway.server import GuardedServer

__all__ = [
    "DirectFrames",
    "FanoutManager",
    "FrameError",
    "FrameGuard",
    "GuardedServer",
    "HalfOpenReaper",
    "JsonPacket",
    "Outlet",
    "PollingBinding",
]
