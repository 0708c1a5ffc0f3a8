"""``POST /v1/audio/speech``: validate, start the stream, encode chunk by chunk, send."""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass

import anyio
from fastapi import APIRouter, Request
from fastapi.responses import Response, StreamingResponse

from tts_service.audio import MEDIA_TYPES, Encoder, create_encoder
from tts_service.errors import InvalidRequestError
from tts_service.schemas import MODEL_IDS, ErrorResponse, SpeechRequest
from tts_service.synthesis import AudioChunk, SpeechStream
from tts_service.text.normalize import clean_text
from tts_service.voices import resolve_lang_code

logger = logging.getLogger(__name__)
router = APIRouter(tags=["speech"])

STREAM_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


@dataclass
class _Stats:
    request_id: str
    chars: int
    voice: str
    fmt: str
    started: float
    first_audio: float | None = None
    audio_seconds: float = 0.0
    chunks: int = 0

    def log(self, outcome: str) -> None:
        total = time.perf_counter() - self.started
        ttfa = (self.first_audio - self.started) if self.first_audio else float("nan")
        logger.info(
            "[%s] speech %s: %d chars, %d chunks, voice %s, %s, TTFA %.3fs, total %.3fs, "
            "audio %.2fs, RTF %.3f (%.1fx real time)",
            self.request_id, outcome, self.chars, self.chunks, self.voice, self.fmt, ttfa, total,
            self.audio_seconds, total / self.audio_seconds if self.audio_seconds else float("nan"),
            self.audio_seconds / total if total else 0.0,
        )  # fmt: skip


async def _encoded(
    stream: SpeechStream, first: AudioChunk, encoder: Encoder, sample_rate: int, stats: _Stats
) -> AsyncIterator[bytes]:
    """Encode and yield each chunk as soon as it is synthesized; the stream's look-ahead keeps
    the next chunk synthesizing meanwhile. An exception here aborts the transfer (no 200 with
    missing audio); leaving early (client gone) stops synthesis."""
    outcome = "failed"
    try:
        chunk: AudioChunk | None = first
        while chunk is not None:
            data = await anyio.to_thread.run_sync(encoder.encode, chunk.samples)
            stats.chunks += 1
            stats.audio_seconds += chunk.samples.size / sample_rate
            if data:
                if stats.first_audio is None:
                    stats.first_audio = time.perf_counter()
                yield data
                await asyncio.sleep(0)  # let the server flush this chunk now
            chunk = await stream.next_chunk()
        if tail := await anyio.to_thread.run_sync(encoder.finish):
            yield tail
        outcome = "done"
    except (asyncio.CancelledError, GeneratorExit):
        outcome = "cancelled"
        raise
    finally:
        stream.close()
        close = getattr(encoder, "close", None)
        if close is not None:
            close()
        stats.log(outcome)


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
        200: {"content": {media: {} for media in MEDIA_TYPES.values()}},
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
    stats = _Stats(request_id, len(text), voice.spec, body.response_format, time.perf_counter())
    stream = synthesizer.stream(
        text, voice, speed=body.speed, lang=lang, split=body.split_sentences, request_id=request_id
    )
    try:
        first = await stream.first()
    except BaseException:
        stream.close()
        raise
    encoder = create_encoder(body.response_format, synthesizer.sample_rate)
    audio = _encoded(stream, first, encoder, synthesizer.sample_rate, stats)
    media_type = MEDIA_TYPES[body.response_format]
    headers = {"X-Request-Id": request_id}
    if body.stream:
        return StreamingResponse(audio, media_type=media_type, headers=STREAM_HEADERS | headers)
    data = b"".join([part async for part in audio])
    return Response(data, media_type=media_type, headers=headers)
