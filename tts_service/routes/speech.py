"""``POST /v1/audio/speech``: the HTTP front-end of the speech service (``tts_service.serving``):
the request in, the response type it asks for out (audio stream, whole file or SSE events)."""

from __future__ import annotations

import logging
from functools import partial
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from tts_service.audio import MEDIA_TYPES
from tts_service.middleware import cancel_reason, request_id, shutdown_notice
from tts_service.responses import audio_response, sse_response, whole_file_response
from tts_service.routes.disconnect import ClientGone, unless_disconnected
from tts_service.schemas import ErrorResponse, SpeechRequest

logger = logging.getLogger(__name__)
router = APIRouter(tags=["speech"])

CLIENT_CLOSED_REQUEST = 499


def _error(description: str) -> dict[str, Any]:
    return {"model": ErrorResponse, "description": description}


# One server-sent event (OpenAPI before 3.2 describes each event of a stream with ``schema``).
SSE_EVENT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "event": {"enum": ["speech.audio.delta", "speech.audio.done", "error"]},
        "data": {
            "type": "string",
            "contentMediaType": "application/json",
            "description": "SpeechAudioDelta (with `words` when `timestamps` is true), "
            "SpeechAudioDone (with `captions` when `captions` is set) or SpeechError as JSON.",
        },
    },
    "required": ["event", "data"],
}

# What the endpoint can answer, for an honest OpenAPI document (no 422: validation errors are 400).
SPEECH_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "Audio in `response_format`, streamed unless `stream` is false; or, with "
        "`stream_format: sse`, a `text/event-stream` of `speech.audio.delta` events and a final "
        "`speech.audio.done`, or an `error` event if synthesis failed or the server's shutdown "
        "cut the stream (code `shutdown`).",
        "content": {
            **{media: {"schema": {"type": "string", "format": "binary"}} for media in MEDIA_TYPES.values()},
            "text/event-stream": {"schema": SSE_EVENT_SCHEMA},
        },
    },
    400: _error("Invalid request: malformed JSON, a wrong field, unknown voice or model, input "
                "too long, or nothing speakable."),
    401: _error("A key is required (TTS_API_KEY is set) and was missing or wrong."),
    413: _error("The request body is larger than TTS_MAX_REQUEST_BYTES."),
    429: _error("The server is at capacity; retry after the Retry-After header's seconds."),
    503: _error("The model is still loading, or failed to load."),
    "4XX": _error("Any other client error (unknown path, wrong method)."),
}  # fmt: skip


@router.post("/v1/audio/speech", response_class=Response, responses=SPEECH_RESPONSES)
async def create_speech(body: SpeechRequest, request: Request) -> Response:
    service = request.app.state.service
    create = partial(
        service.speech().create, body, request_id=request_id(request.scope),
        cancel_reason=partial(cancel_reason, request.scope),
    )  # fmt: skip
    headers: dict[str, str] = {}  # X-Request-Id is added by RequestIdMiddleware
    try:
        speech = await unless_disconnected(request, create)
        if body.stream_format == "sse":
            return sse_response(
                speech.items, speech.stats, headers, service.settings.shutdown_grace,
                shutdown_notice(request.scope), body.captions,
            )  # fmt: skip
        if body.stream:
            return audio_response(speech.items, body.response_format, headers)
        return await unless_disconnected(
            request, partial(whole_file_response, speech.items, body.response_format, headers)
        )
    except ClientGone:
        # Nobody reads this; "client closed request", as proxies log it.
        return Response(status_code=CLIENT_CLOSED_REQUEST)
