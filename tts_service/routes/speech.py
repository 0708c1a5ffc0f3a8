"""``POST /v1/audio/speech``: validate, start the stream, encode chunk by chunk, send."""

from __future__ import annotations

import logging
import time
from functools import partial
from typing import Any

import anyio
from fastapi import APIRouter, Request
from fastapi.responses import Response

from tts_service.audio import MEDIA_TYPES, create_encoder
from tts_service.backends import Backend
from tts_service.errors import InvalidRequestError, NoSpeechError
from tts_service.middleware import cancel_reason, request_id
from tts_service.responses import (
    StreamStats,
    audio_response,
    encoded_audio,
    sse_response,
    whole_file_response,
)
from tts_service.schemas import MODEL_IDS, ErrorResponse, SpeechRequest
from tts_service.text.markup import strip_markup
from tts_service.text.normalize import clean_text
from tts_service.voices import resolve_lang_code

logger = logging.getLogger(__name__)
router = APIRouter(tags=["speech"])


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
            "SpeechAudioDone or SpeechError as JSON.",
        },
    },
    "required": ["event", "data"],
}

# What the endpoint can answer, for an honest OpenAPI document (no 422: validation errors are 400).
SPEECH_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "Audio in `response_format`, streamed unless `stream` is false; or, with "
        "`stream_format: sse`, a `text/event-stream` of `speech.audio.delta` events and a final "
        "`speech.audio.done`.",
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


def _check_timestamps(body: SpeechRequest, backend: Backend) -> None:
    if body.timestamps and body.stream_format != "sse":
        raise InvalidRequestError(
            'timestamps needs "stream_format": "sse" (the words travel in its events).',
            param="timestamps",
        )
    if body.timestamps and not backend.durations:
        raise InvalidRequestError(
            f"Word timestamps need a model that predicts durations; this server runs the "
            f"{backend.name} backend, which does not. Start it with TTS_BACKEND=torch.",
            param="timestamps", code="unsupported_by_backend",
        )  # fmt: skip


def _validate(body: SpeechRequest, max_chars: int) -> str:
    if body.model not in MODEL_IDS:
        raise InvalidRequestError(
            f"Unknown model {body.model!r}; use one of: {', '.join(MODEL_IDS)}.",
            param="model", code="model_not_found",
        )  # fmt: skip
    if len(body.input) > max_chars:
        raise InvalidRequestError(
            f"input is {len(body.input)} characters; the limit is {max_chars}.",
            param="input", code="input_too_long",
        )  # fmt: skip
    text = clean_text(body.input)
    if not text.strip():
        raise InvalidRequestError("input is empty.", param="input", code="empty_input")
    return text


def _speakable_text(text: str) -> str:
    """``text`` without Markdown/HTML/SSML markup; NoSpeechError when markup was all there was."""
    spoken = strip_markup(text)
    if not spoken.strip():
        raise NoSpeechError("The input contains only markup, nothing to speak.", param="input")
    return spoken


@router.post("/v1/audio/speech", response_class=Response, responses=SPEECH_RESPONSES)
async def create_speech(body: SpeechRequest, request: Request) -> Response:
    service = request.app.state.service
    synthesizer, voices = service.require()
    text = _validate(body, service.settings.max_input_chars)
    _check_timestamps(body, synthesizer.backend)
    voice = voices.resolve(body.voice_spec or service.settings.default_voice)
    lang = resolve_lang_code(body.lang_code) if body.lang_code else None
    text = await anyio.to_thread.run_sync(_speakable_text, text)  # ~0.1 s for 4096 odd chars
    rid = request_id(request.scope)
    stats = StreamStats(
        rid, len(text), voice.spec, body.response_format, time.perf_counter(), synthesizer.metrics,
        partial(cancel_reason, request.scope),
    )  # fmt: skip
    synthesizer.check_capacity()  # no await between this and opening the stream
    stream = synthesizer.stream(
        text, voice, speed=body.speed, lang=lang, split=body.split_sentences, request_id=rid,
        timestamps=body.timestamps,
    )  # fmt: skip
    try:
        first = await stream.first()
    except BaseException:
        stream.close()
        raise
    encoder = create_encoder(body.response_format, synthesizer.sample_rate)
    audio = encoded_audio(
        stream, first, encoder, synthesizer.sample_rate, stats, timestamps=body.timestamps
    )
    headers: dict[str, str] = {}  # X-Request-Id is added by RequestIdMiddleware
    if body.stream_format == "sse":
        return sse_response(audio, stats, headers, service.settings.shutdown_grace)
    if body.stream:
        return audio_response(audio, body.response_format, headers)
    return await whole_file_response(audio, body.response_format, headers)
