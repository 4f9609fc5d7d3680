"""Event names and payload models: where client data enters, it is parsed, never passed on as dicts."""

from typing import Annotated, Any, TypeVar

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictInt,
    StrictStr,
    ValidationError,
    model_validator,
)

from server.chat.errors import InvalidPayloadError

_SLUG = r"^[a-z0-9][a-z0-9_-]{0,63}$"
RoomSlug = Annotated[StrictStr, Field(pattern=_SLUG)]
ClientId = Annotated[StrictStr, Field(pattern=r"^[A-Za-z0-9_.:-]{1,64}$")]

MESSAGE_POSTED = "message_posted"
SESSION_EXPIRING = "session_expiring"
SESSION_ENDED = "session_ended"
ROOM_ACCESS_REVOKED = "room_access_revoked"
MAX_ID = 2**63 - 1  # ids are BIGINT: larger numbers must not reach the database


class _Payload(BaseModel):
    # Unknown fields are ignored, so identity claims in a payload ("sender", "user", …) have no effect.
    model_config = ConfigDict(frozen=True, extra="ignore")


class RoomPayload(_Payload):
    room: RoomSlug


class SendMessagePayload(_Payload):
    room: RoomSlug
    text: StrictStr
    client_id: ClientId | None = None


class FetchHistoryPayload(_Payload):
    room: RoomSlug
    before: Annotated[StrictInt, Field(ge=1, le=MAX_ID)] | None = None
    after: Annotated[StrictInt, Field(ge=0, le=MAX_ID)] | None = None
    limit: Annotated[StrictInt, Field(ge=1, le=100)] = 50

    @model_validator(mode="after")
    def _one_direction(self) -> "FetchHistoryPayload":
        if self.before is not None and self.after is not None:
            raise ValueError("give before or after, not both")
        return self


class RefreshTokenPayload(_Payload):
    # No access token: a provider in mode "id_token_only" (the verifier refuses it elsewhere).
    access_token: StrictStr | None = None
    id_token: StrictStr | None = None

    @model_validator(mode="after")
    def _some_token(self) -> "RefreshTokenPayload":
        if self.access_token is None and self.id_token is None:
            raise ValueError("give access_token (and id_token), or id_token alone")
        return self


class EmptyPayload(_Payload):
    pass


P = TypeVar("P", bound=_Payload)


def parse(model: type[P], data: Any) -> P:
    """Validate an event payload.

    Raises:
        InvalidPayloadError (invalid_request): not an object, or a field is missing or mistyped.
    """
    if data is None and model is EmptyPayload:
        data = {}
    if not isinstance(data, dict):
        raise InvalidPayloadError("payload is not an object")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        fields = sorted({".".join(str(p) for p in e["loc"]) for e in exc.errors()})
        raise InvalidPayloadError(f"invalid fields: {fields}") from exc
