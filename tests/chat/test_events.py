"""Event payload models: every field's type and shape, and what a refusal tells the client."""

from typing import Any

import pytest

from server.chat.errors import InvalidPayloadError
from server.chat.events import (
    MAX_ID,
    EmptyPayload,
    FetchHistoryPayload,
    RefreshTokenPayload,
    RoomPayload,
    SendMessagePayload,
    parse,
)
from server.errors import AppError

Model = type[
    RoomPayload | SendMessagePayload | FetchHistoryPayload | RefreshTokenPayload | EmptyPayload
]
ROOM_MODELS: list[Model] = [RoomPayload, SendMessagePayload, FetchHistoryPayload]
ALL_MODELS: list[Model] = [*ROOM_MODELS, RefreshTokenPayload, EmptyPayload]
VALID = {
    RoomPayload: {"room": "general"},
    SendMessagePayload: {"room": "general", "text": "hi"},
    FetchHistoryPayload: {"room": "general"},
    RefreshTokenPayload: {"access_token": "a.b.c"},
    EmptyPayload: {},
}


def refused(model: Model, data: Any) -> AppError:
    with pytest.raises(AppError) as info:
        parse(model, data)
    assert info.value.code == "invalid_request"
    assert info.value.public() == InvalidPayloadError().public()  # the detail stays in the log
    return info.value


@pytest.mark.parametrize("model", ALL_MODELS)
@pytest.mark.parametrize(
    "data", [[], [{"room": "general"}], "general", '{"room": "general"}', 0, 1.5, True, b"{}"]
)
def test_a_payload_that_is_not_an_object_is_invalid_request(model: Model, data: object) -> None:
    refused(model, data)


@pytest.mark.parametrize("model", [m for m in ALL_MODELS if m is not EmptyPayload])
def test_a_missing_payload_is_invalid_request(model: Model) -> None:
    refused(model, None)
    refused(model, {})


def test_an_event_without_fields_takes_no_payload_or_any_object() -> None:
    assert parse(EmptyPayload, None) == EmptyPayload()
    assert parse(EmptyPayload, {"anything": [1, 2]}) == EmptyPayload()


@pytest.mark.parametrize("model", ALL_MODELS)
def test_unknown_fields_are_ignored_so_identity_claims_have_no_effect(model: Model) -> None:
    forged = {"sender": {"subject": "mallory"}, "user": "mallory", "sender_id": 1, "sub": "x"}
    parsed = parse(model, {**VALID[model], **forged})
    assert parsed == parse(model, VALID[model])
    assert set(parsed.model_dump()).isdisjoint(forged)


@pytest.mark.parametrize("model", ROOM_MODELS)
@pytest.mark.parametrize(
    "slug",
    [
        "../general",
        "general/../staff",
        "/general",
        "general/",
        "..",
        ".",
        "room:general",  # our own Socket.IO room prefix
        "general\n",
        "general\x00",
        "general%00",
        "gen eral",
        " general",
        "General",
        "\uff47eneral",  # a fullwidth letter g
        "généralé",
        "general'; DROP TABLE messages; --",
        'general" OR 1=1',
        "-general",
        "_general",
        "",
        "a" * 65,
    ],
)
def test_room_slugs_like_paths_or_injections_are_invalid_request(model: Model, slug: str) -> None:
    refused(model, {**VALID[model], "room": slug})


@pytest.mark.parametrize("model", ROOM_MODELS)
@pytest.mark.parametrize("slug", ["a", "0", "general", "dev-ops_2", "a" * 64])
def test_slugs_of_the_configured_shape_are_accepted(model: Model, slug: str) -> None:
    assert parse(model, {**VALID[model], "room": slug}).model_dump()["room"] == slug


@pytest.mark.parametrize("model", ROOM_MODELS)
@pytest.mark.parametrize("room", [None, 5, True, b"general", ["general"], {"slug": "general"}])
def test_a_room_that_is_not_a_string_is_invalid_request(model: Model, room: object) -> None:
    refused(model, {**VALID[model], "room": room})


@pytest.mark.parametrize("text", [None, 5, 1.5, True, b"hi", ["hi"], {"text": "hi"}])
def test_a_text_that_is_not_a_string_is_invalid_request(text: object) -> None:
    refused(SendMessagePayload, {"room": "general", "text": text})


def test_a_message_needs_a_text() -> None:
    refused(SendMessagePayload, {"room": "general"})


@pytest.mark.parametrize("client_id", ["a", "Az09_.:-", "x" * 64, None])
def test_client_ids_of_the_documented_shape_are_accepted(client_id: str | None) -> None:
    payload = parse(SendMessagePayload, {"room": "general", "text": "hi", "client_id": client_id})
    assert payload.client_id == client_id


@pytest.mark.parametrize(
    "client_id",
    ["", "x" * 65, "a b", "a/b", "a\n", "a\x00", "é", "a;b", 5, True, b"a", ["a"], {"id": "a"}],
)
def test_other_client_ids_are_invalid_request(client_id: object) -> None:
    refused(SendMessagePayload, {"room": "general", "text": "hi", "client_id": client_id})


def test_history_defaults_to_the_latest_fifty() -> None:
    payload = parse(FetchHistoryPayload, {"room": "general", "before": None, "after": None})
    assert (payload.before, payload.after, payload.limit) == (None, None, 50)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("before", 1),
        ("before", MAX_ID),
        ("after", 0),
        ("after", MAX_ID),
        ("limit", 1),
        ("limit", 100),
    ],
)
def test_history_bounds_are_inclusive(field: str, value: int) -> None:
    payload = parse(FetchHistoryPayload, {"room": "general", field: value})
    assert payload.model_dump()[field] == value


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("before", 0),
        ("before", -1),
        ("before", MAX_ID + 1),  # ids are BIGINT: a larger number must not reach the database
        ("after", -1),
        ("after", MAX_ID + 1),
        ("limit", 0),
        ("limit", 101),
        ("limit", None),
        *[
            (field, value)
            for field in ("before", "after", "limit")
            for value in ("5", b"5", 5.0, True)
        ],
        *[(field, value) for field in ("before", "after", "limit") for value in ([5], {"id": 5})],
    ],
)
def test_history_numbers_out_of_bounds_or_not_strict_ints_are_invalid_request(
    field: str, value: object
) -> None:
    error = refused(FetchHistoryPayload, {"room": "general", field: value})
    assert field in str(error)  # the log detail names the field


def test_history_before_and_after_together_is_invalid_request() -> None:
    refused(FetchHistoryPayload, {"room": "general", "before": 10, "after": 1})


@pytest.mark.parametrize(
    "data",
    [
        {},
        {"access_token": None},
        {"access_token": 5},
        {"access_token": ["a.b.c"]},
        {"access_token": b"a.b.c"},
        {"access_token": "a.b.c", "id_token": 5},
        {"access_token": "a.b.c", "id_token": b"a.b.c"},
        {"access_token": "a.b.c", "id_token": {"jwt": "a.b.c"}},
    ],
)
def test_refresh_tokens_must_be_strings(data: dict[str, object]) -> None:
    refused(RefreshTokenPayload, data)


def test_a_refresh_may_omit_the_id_token() -> None:
    payload = parse(RefreshTokenPayload, {"access_token": "a.b.c", "id_token": None})
    assert (payload.access_token, payload.id_token) == ("a.b.c", None)


def test_a_refusal_names_the_fields_for_the_log_but_never_their_values() -> None:
    data = {"room": "Secret Room", "text": "my secret text", "client_id": "secret id!"}
    error = refused(SendMessagePayload, data)
    assert "room" in str(error)
    assert "client_id" in str(error)
    assert "ecret" not in str(error)
