"""Chat errors, each with the stable code the client receives in its ack."""

from server.errors import AppError


class ChatError(AppError):
    code = "invalid_request"
    message = "The request is malformed."


class InvalidPayloadError(ChatError):
    code = "invalid_request"
    message = "The request is malformed."


class UnknownEventError(ChatError):
    code = "unknown_event"
    message = "This event does not exist."


class MessageTooLargeError(ChatError):
    code = "message_too_large"
    message = "The message is too long."


class RoomNotFoundError(ChatError):
    code = "room_not_found"
    message = "This room does not exist."


class ForbiddenError(ChatError):
    code = "forbidden"
    message = "You may not access this room."
