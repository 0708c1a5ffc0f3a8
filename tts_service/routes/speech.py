"""``POST /v1/audio/speech``: validate, start the stream, encode chunk by chunk, send."""

from __future__ import annotations

import logging
import time
import uuid

from fastapi import APIRouter, Request
from fastapi.responses import Response

from tts_service.audio import MEDIA_TYPES, create_encoder
from tts_service.errors import InvalidRequestError
from tts_service.responses import (
    StreamStats,
    audio_response,
    encoded_audio,
    sse_response,
    whole_file_response,
)
from tts_service.schemas import MODEL_IDS, ErrorResponse, SpeechRequest
from tts_service.text.normalize import clean_text
from tts_service.voices import resolve_lang_code

logger = logging.getLogger(__name__)
router = APIRouter(tags=["speech"])


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


@router.post(
    "/v1/audio/speech",
    response_class=Response,
    responses={
        200: {"content": {media: {} for media in [*MEDIA_TYPES.values(), "text/event-stream"]}},
        401: {"model": ErrorResponse},
        400: {"model": ErrorResponse},
        503: {"model": ErrorResponse},
    },
)
async def create_speech(body: SpeechRequest, request: Request) -> Response:
    service = request.app.state.service
    synthesizer, voices = service.require()
    text = _validate(body, service.settings.max_input_chars)
    voice = voices.resolve(body.voice_spec or service.settings.default_voice)
    lang = resolve_lang_code(body.lang_code) if body.lang_code else None
    request_id = uuid.uuid4().hex[:12]
    stats = StreamStats(
        request_id, len(text), voice.spec, body.response_format, time.perf_counter(),
        synthesizer.metrics,
    )  # fmt: skip
    stream = synthesizer.stream(
        text, voice, speed=body.speed, lang=lang, split=body.split_sentences, request_id=request_id
    )
    try:
        first = await stream.first()
    except BaseException:
        stream.close()
        raise
    encoder = create_encoder(body.response_format, synthesizer.sample_rate)
    audio = encoded_audio(stream, first, encoder, synthesizer.sample_rate, stats)
    headers = {"X-Request-Id": request_id}
    if body.stream_format == "sse":
        return sse_response(audio, stats, headers)
    if body.stream:
        return audio_response(audio, body.response_format, headers)
    return await whole_file_response(audio, body.response_format, headers)
