"""Hypothesis strategies for the Socket.IO / Engine.IO surface: raw frames and event payloads.

Real tokens never appear in a strategy: the placeholders in ``ALICE`` and ``BOB`` are replaced by
the ``Player`` just before a frame is sent, so failure reports show placeholders only.
"""

import base64
import json
from dataclasses import dataclass

from hypothesis import strategies as st
from hypothesis.strategies import SearchStrategy

from tests.support.frames import RECORD_SEPARATOR, Frame, event, sio
from tests.support.fuzzing import Connect, Script, Step

MAX_PAYLOAD_BYTES = 64 * 1024  # the server's max_payload_bytes (the default)
ALICE = {"access_token": "$alice.access$", "id_token": "$alice.id$"}
BOB = {"access_token": "$bob.access$", "id_token": "$bob.id$"}
REAL_EVENTS = ["send_message", "join", "leave", "fetch_history", "list_rooms", "refresh_token"]

# Any code point, lone surrogates and NUL included (json.dumps escapes them as \ud800, \u0000).
ANY_TEXT = st.text(st.characters(exclude_categories=()), max_size=30)
KEYS = st.text(max_size=10)


def json_values(leaves: int = 8) -> SearchStrategy[object]:
    """JSON of random shapes: the scalars include NaN, infinities and integers past 64 bits."""
    huge = st.sampled_from([2**63 - 1, 2**63, -(2**63) - 1, 10**40])
    scalars = st.none() | st.booleans() | st.integers() | huge | st.floats() | ANY_TEXT
    return st.recursive(
        scalars,
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(KEYS, inner, max_size=4),
        max_leaves=leaves,
    )


def nested(kind: str, depth: int) -> str:
    """JSON text nested ``depth`` deep: past the recursion limit for the larger depths."""
    if kind == "list":
        return "[" * depth + "]" * depth
    return '{"a":' * depth + "1" + "}" * depth


DEEP_JSON = st.builds(
    nested, st.sampled_from(["list", "object"]), st.sampled_from([40, 1001, 9000])
)
ODD_JSON = st.sampled_from(
    ["NaN", "-Infinity", "1" * 5000, '"\\ud800"', "[1,]", "{'a':1}", "[", "", "\ufeff[]", "[] []"]
)
ROOMS = st.sampled_from(
    ["general", "engineering", "nowhere", "General", "../general", "", "a" * 65]
)
TEXTS = (
    ANY_TEXT
    | st.sampled_from(["hi", " \n\t", "nul\x00", "\ud800", "\u2028", "x" * 4000, "é" * 4001])
    | json_values(3)
)
CLIENT_IDS = st.from_regex(r"[A-Za-z0-9_.:-]{1,64}", fullmatch=True) | json_values(2)
MESSAGE_IDS = st.integers() | st.sampled_from([0, 1, 2**63 - 1, 2**63, True]) | json_values(2)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _jwt(header: str, claims: str, signature: bytes) -> str:
    return ".".join([_b64(header.encode()), _b64(claims.encode()), _b64(signature)])


HEADERS = st.fixed_dictionaries(
    {"alg": st.sampled_from(["RS256", "ES256", "none", "HS256"])},
    optional={"kid": st.sampled_from(["dev-rs256", "dev-es256"]) | KEYS, "jku": KEYS, "typ": KEYS},
)
TOKENS = (
    st.sampled_from(["$alice.access$", "$alice.id$", "$bob.access$", "$bob.id$"])
    | ANY_TEXT
    | st.builds(
        _jwt,
        HEADERS.map(json.dumps) | DEEP_JSON,
        json_values(4).map(json.dumps),
        st.binary(max_size=64),
    )
    | json_values(2)
)
PAYLOADS: dict[str, SearchStrategy[object]] = {
    "send_message": st.fixed_dictionaries(
        {"room": ROOMS | json_values(2), "text": TEXTS},
        optional={"client_id": CLIENT_IDS, "sender": json_values(3)},
    ),
    "join": st.fixed_dictionaries({"room": ROOMS | ANY_TEXT | json_values(2)}),
    "leave": st.fixed_dictionaries({"room": ROOMS | ANY_TEXT | json_values(2)}),
    "fetch_history": st.fixed_dictionaries(
        {"room": ROOMS},
        optional={
            "before": MESSAGE_IDS,
            "after": MESSAGE_IDS,
            "limit": st.integers(-1, 101) | json_values(1),
        },
    ),
    "list_rooms": st.none() | st.just({}),
    "refresh_token": st.sampled_from([ALICE, BOB])
    | st.fixed_dictionaries({"access_token": TOKENS}, optional={"id_token": TOKENS}),
}
EVENT_NAMES = (
    st.sampled_from(REAL_EVENTS)
    | st.sampled_from(
        ["connect", "disconnect", "message_posted", "on_connect", "_dispatch", "trigger_event"]
    )
    | json_values(2)
)


@dataclass(frozen=True, slots=True)
class EventDraft:
    """A well-formed event: ``step(ack)`` renders it with its ack id (unique within a script).

    With ``size``, the single payload's ``text`` is padded so that the frame is ``size`` bytes.
    """

    name: object
    args: tuple[object, ...]
    wants_ack: bool = True
    size: int | None = None

    def step(self, ack: int | None) -> Step:
        ack = ack if self.wants_ack else None
        args = self.args
        if self.size is not None:
            overhead = len(event(self.name, {"room": "general", "text": ""}, ack=ack))
            args = ({"room": "general", "text": "x" * (self.size - overhead)},)
        frame = event(self.name, *args, ack=ack)
        return Step(
            frame,
            benign=len(frame.encode()) <= MAX_PAYLOAD_BYTES,
            ack=ack,
            event=self.name,
            payload=args[0] if len(args) == 1 else None,
        )


def _arguments(name: object) -> SearchStrategy[tuple[object, ...]]:
    payload = PAYLOADS.get(name, json_values()) if isinstance(name, str) else json_values()
    one = st.tuples(payload | json_values(3))
    return one | one | st.just(()) | st.tuples(payload, json_values(2))


def event_drafts(always_ack: bool = False) -> SearchStrategy[EventDraft]:
    """Events of every real name with generated payloads, and events of any other JSON name."""
    wants_ack = st.just(True) if always_ack else st.sampled_from([True, True, False])
    return EVENT_NAMES.flatmap(
        lambda name: st.builds(EventDraft, st.just(name), _arguments(name), wants_ack)
    )


OVERSIZED = st.builds(
    EventDraft,
    st.just("send_message"),
    st.just(({"room": "general", "text": ""},)),
    size=st.sampled_from([MAX_PAYLOAD_BYTES, MAX_PAYLOAD_BYTES + 1, 200_000]),
)
NAMESPACES = (
    st.sampled_from(["", "/", "/admin", "/x?y", "/?y=1", "//", "/,"])
    | KEYS
    | KEYS.map(lambda s: "/" + s)
)
SIO_KINDS = st.sampled_from([*"0123456", "7", "9", "a", " ", ""])
EVENTISH = st.tuples(EVENT_NAMES, json_values(4)).map(lambda pair: json.dumps(list(pair)))
DATA = (
    json_values().map(json.dumps)
    | EVENTISH
    | DEEP_JSON
    | DEEP_JSON.map(lambda deep: f'["send_message",{{"room":"general","text":{deep}}}]')
    | ODD_JSON
    | st.text(max_size=20)
)
SIO_PACKETS = st.builds(
    sio,
    SIO_KINDS,
    DATA,
    namespace=NAMESPACES,
    ack=st.sampled_from(["", "0", "01", "-1", "4294967296", "9" * 100, "9" * 101]),
    attachments=st.sampled_from(["", "", "0", "1", "9999999999", "99999999999", "x"]),
)
EIO_PACKETS = st.builds(
    str.__add__, st.sampled_from([*"0123456789", "b", " ", "x"]), st.text(max_size=24)
) | st.binary(max_size=24).map(lambda data: "b" + base64.b64encode(data).decode())
BINARY = (
    st.binary(max_size=48)
    | st.sampled_from([b"", b"\x00" * MAX_PAYLOAD_BYTES, b"\xff" * (MAX_PAYLOAD_BYTES + 1)])
    | EVENTISH.map(lambda data: ("42" + data).encode())
)
TRUNCATED = EVENTISH.map(lambda data: "42" + data).flatmap(
    lambda frame: st.integers(0, len(frame) - 1).map(lambda cut: frame[:cut])
)
PLACEHOLDER = {"_placeholder": True, "num": 0}
ATTACHMENT_HEADERS = st.sampled_from(
    [
        json.dumps(["send_message", {"room": "general", "text": PLACEHOLDER}]),
        json.dumps(["send_message", {"room": "general", "text": "with an attachment"}]),
        json.dumps(["send_message", {"_placeholder": True, "num": 7}]),
        json.dumps(["join", {"room": {"_placeholder": True, "num": -1}}]),
        json.dumps([{"_placeholder": True, "num": 0}]),
    ]
)
ATTACHMENT_RUNS = st.builds(
    lambda kind, count, ack, header, blobs: [
        Step(sio(kind, header, attachments=count, ack=ack)),
        *[Step(blob) for blob in blobs],
    ],
    st.sampled_from(["5", "6"]),
    st.sampled_from(["1", "2", "9999999999"]),
    st.sampled_from(["", "3"]),
    ATTACHMENT_HEADERS,
    st.lists(st.binary(max_size=32) | st.just(b"x" * 60_000), max_size=3),
)
RAW_FRAMES: SearchStrategy[Frame] = SIO_PACKETS | EIO_PACKETS | BINARY | TRUNCATED


def _number(items: list[EventDraft | Step | list[Step]], base: int) -> list[Step]:
    steps: list[Step] = []
    for item in items:
        if isinstance(item, EventDraft):
            steps.append(item.step(base + len(steps)))
        else:
            steps.extend(item if isinstance(item, list) else [item])
    return steps


def steps(
    frames: SearchStrategy[Frame], min_size: int, max_size: int, first_ack: int = 0, junk: int = 2
) -> SearchStrategy[list[Step]]:
    """Well-formed events (weight 4) mixed with junk ``frames`` (weight ``junk``), attachment
    runs and oversized events (weight 1 each)."""
    drafts = event_drafts()
    item = st.one_of(
        drafts, drafts, drafts, drafts, *[frames.map(Step)] * junk, ATTACHMENT_RUNS, OVERSIZED
    )
    bases = st.sampled_from([0, 1, 2**53, 10**99 - 1000]).map(lambda base: base + first_ack)
    return st.builds(_number, st.lists(item, min_size=min_size, max_size=max_size), bases)


GOOD_CONNECT = st.just(Connect())
CONNECTS = (
    GOOD_CONNECT
    | GOOD_CONNECT
    | GOOD_CONNECT
    | GOOD_CONNECT
    | st.builds(Connect, namespace=NAMESPACES)
    | st.builds(Connect, auth=json_values(4) | st.just({"access_token": "$alice.access$"}))
    | st.builds(Connect, tail=st.sampled_from(["x", "}", "[" * 3000]))
    | st.none()
)


def scripts(frames: SearchStrategy[Frame] = RAW_FRAMES) -> SearchStrategy[Script]:
    """Frames before the connect (never answered), a connect (usually the user's), frames after."""
    return st.builds(
        Script, steps(frames, 0, 2, first_ack=500, junk=1), CONNECTS, steps(frames, 1, 6)
    )


def event_scripts() -> SearchStrategy[Script]:
    """The user's connect, then well-formed events only, each asking for an ack."""
    drafts = st.lists(event_drafts(always_ack=True), min_size=1, max_size=6)
    numbered = st.builds(_number, drafts, st.sampled_from([0, 1, 2**31, 10**99]))
    return st.builds(Script, st.just([]), st.just(Connect()), numbered)


POLLING_BODIES: SearchStrategy[Frame] = (
    RAW_FRAMES
    | st.lists(SIO_PACKETS | EIO_PACKETS, min_size=2, max_size=4).map(RECORD_SEPARATOR.join)
    | st.just(RECORD_SEPARATOR.join(["6"] * 17))  # more packets than a payload may hold
    | st.binary(max_size=32)
)
