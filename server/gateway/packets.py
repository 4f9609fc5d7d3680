"""Socket.IO packets as our protocol has them: JSON text, no binary attachments.

python-socketio accepts a packet that declares up to a ten-digit number of binary attachments and
buffers every binary frame after it until they have all arrived. Our clients never send binary
data, so such a packet (and any frame that does not decode) is a protocol error here.
"""

from typing import Any

import socketio.packet

# What a client may send: CONNECT, DISCONNECT, EVENT, ACK. Never CONNECT_ERROR or the binary types.
CLIENT_PACKET_TYPES = frozenset(
    {
        socketio.packet.CONNECT,
        socketio.packet.DISCONNECT,
        socketio.packet.EVENT,
        socketio.packet.ACK,
    }
)


class FrameError(ValueError):
    """A frame that breaks the wire protocol; the transport that sent it is closed."""


class JsonPacket(socketio.packet.Packet):  # type: ignore[misc]  # socketio ships no type information
    """A Socket.IO packet that refuses binary data, attachments and undecodable frames."""

    uses_binary_events = False  # we never send binary either: no scan of every payload for bytes

    def decode(self, encoded_packet: Any) -> int:
        if not isinstance(encoded_packet, str):
            raise FrameError("binary frame")
        try:
            attachments = super().decode(encoded_packet)
        except (ValueError, TypeError, RecursionError) as exc:
            # RecursionError: JSON nested deeper than the interpreter's limit.
            raise FrameError(f"undecodable packet ({type(exc).__name__})") from None
        if attachments or self.packet_type not in CLIENT_PACKET_TYPES:
            raise FrameError(f"packet type {self.packet_type!r} is not accepted")
        if self.namespace is not None and not isinstance(self.namespace, str):
            raise FrameError("bad namespace")
        _check_data(self.packet_type, self.data)
        return 0


def _check_data(packet_type: int, data: object) -> None:
    # python-socketio indexes data[0] for events: anything but a non-empty list would raise there.
    if packet_type == socketio.packet.EVENT and not (isinstance(data, list) and data):
        raise FrameError("an event is not a non-empty array")
    if packet_type == socketio.packet.ACK and not isinstance(data, list):
        raise FrameError("an ack is not an array")
