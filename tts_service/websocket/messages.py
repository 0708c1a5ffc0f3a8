"""What the streamed-text WebSocket's messages say: the client's, checked (a message of the
wrong shape is an ``InvalidMessageError`` naming the field), and the server's events."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from tts_service.errors import InvalidRequestError, ServiceError
from tts_service.schemas import ErrorDetail, TurnOptions, Usage, WordTimestamp

TurnId = Annotated[str, Field(min_length=1, max_length=200)]


class InvalidMessageError(InvalidRequestError):
    """A client message that is not JSON, not an object, or not one of the protocol's."""

    code = "invalid_message"


class TurnStart(TurnOptions):
    type: Literal["turn.start"]
    turn_id: TurnId | None = None
    audio: Literal["binary", "base64"] = "binary"
    text: str | None = None


class _OnTurn(BaseModel):
    model_config = ConfigDict(extra="ignore")

    turn_id: TurnId | None = None


class TextDelta(_OnTurn):
    type: Literal["text.delta"]
    text: str


class TextFlush(_OnTurn):
    type: Literal["text.flush"]


class TurnEnd(_OnTurn):
    type: Literal["turn.end"]


class TurnClear(_OnTurn):
    type: Literal["turn.clear"]


ClientMessage = Annotated[
    TurnStart | TextDelta | TextFlush | TurnEnd | TurnClear, Field(discriminator="type")
]
_CLIENT_MESSAGE: TypeAdapter[ClientMessage] = TypeAdapter(ClientMessage)
MESSAGE_TYPES = ("turn.start", "text.delta", "text.flush", "turn.end", "turn.clear")


def parse(raw: str) -> ClientMessage:
    """The client message in the text frame ``raw``."""
    try:
        return _CLIENT_MESSAGE.validate_json(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        location = [str(part) for part in first["loc"]]
        if first["type"] in ("json_invalid", "json_type"):
            raise InvalidMessageError(f"The message is not JSON: {first['msg']}.") from None
        if first["type"] in ("model_attributes_type", "model_type", "dict_type"):
            raise InvalidMessageError("A message is a JSON object with a type.") from None
        if first["type"] in ("union_tag_not_found", "union_tag_invalid"):
            raise InvalidMessageError(
                f"type must be one of: {', '.join(MESSAGE_TYPES)}.", param="type"
            ) from None
        field = location[1] if len(location) > 1 else None  # [message type, field, ...]
        where = ".".join(location[1:]) or "message"
        raise InvalidMessageError(f"{where}: {first['msg']}", param=field) from None


# -- the server's events ----------------------------------------------------------------------


class TurnStarted(BaseModel):
    type: Literal["turn.started"] = "turn.started"
    turn_id: str
    response_format: str
    sample_rate: int
    voice: str


class AudioDelta(BaseModel):
    type: Literal["audio.delta"] = "audio.delta"
    turn_id: str
    audio: str = Field(description="Base64 of the next bytes of audio in response_format.")


class TextSpoken(BaseModel):
    type: Literal["text.spoken"] = "text.spoken"
    turn_id: str
    start: int
    end: int
    words: list[WordTimestamp] | None = None


class TurnDone(BaseModel):
    type: Literal["turn.done"] = "turn.done"
    turn_id: str
    status: Literal["completed", "cleared", "failed"]
    spoken_until: int
    audio_seconds: float
    usage: Usage
    error: ErrorDetail | None = None
    captions: str | None = None
    """With the turn's ``captions``: those of the words it spoke."""


class ErrorEvent(BaseModel):
    type: Literal["error"] = "error"
    turn_id: str | None = None
    error: ErrorDetail
    retry_after: int | None = None


def error_detail(exc: ServiceError) -> ErrorDetail:
    return ErrorDetail(message=exc.message, type=exc.error_type, param=exc.param, code=exc.code)


def error_event(exc: ServiceError, turn_id: str | None = None) -> ErrorEvent:
    retry = exc.headers.get("Retry-After")
    return ErrorEvent(
        turn_id=turn_id, error=error_detail(exc), retry_after=int(retry) if retry else None
    )


def dump(event: BaseModel) -> str:
    """An event as the text of its frame (absent fields left out)."""
    return event.model_dump_json(exclude_none=True)
