"""The speech service: everything between a validated ``SpeechRequest`` and a stream of encoded
items — text clean-up, markup, voice, admission, the first chunk, the encoder — and of turns of
streamed text (``open_turn``, :mod:`tts_service.turns`). Protocol front-ends (the HTTP route, the
WebSocket, Wyoming) translate their messages to ``SpeechService.create`` or ``open_turn`` and
send the items back in their own form.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncGenerator, Callable
from dataclasses import dataclass

import anyio

from tts_service.audio import create_encoder
from tts_service.backends import BACKENDS, Backend
from tts_service.config import Settings
from tts_service.errors import InvalidRequestError, NoSpeechError
from tts_service.pipeline.encoded import (
    EncodedAudio,
    StreamStats,
    client_disconnected,
    encoded_audio,
)
from tts_service.schemas import MODEL_IDS, SpeechRequest, TurnOptions
from tts_service.synthesis import Synthesizer
from tts_service.text import marks
from tts_service.text.clean import clean_text
from tts_service.text.markup import strip_markup
from tts_service.turns import Turn
from tts_service.voices import VoiceStore, resolve_lang_code


@dataclass(frozen=True)
class Speech:
    """A started speech: its first chunk is synthesized; iterating ``items`` goes on (and must
    end by exhausting or closing it, which closes the stream)."""

    items: AsyncGenerator[EncodedAudio, None]
    stats: StreamStats


def _durations_backends() -> str:
    return " or ".join(f"TTS_BACKEND={name}" for name, spec in BACKENDS.items() if spec.durations)


def _check_timestamps(body: SpeechRequest, backend: Backend) -> None:
    if body.captions is not None and not (body.timestamps and body.stream_format == "sse"):
        raise InvalidRequestError(
            'captions needs "stream_format": "sse" and "timestamps": true (they are made of the '
            "words' times and come in the stream's last event).",
            param="captions",
        )
    if body.timestamps and body.stream_format != "sse":
        raise InvalidRequestError(
            'timestamps needs "stream_format": "sse" (the words travel in its events).',
            param="timestamps",
        )
    _check_durations(body.timestamps, backend)


def _check_captions(captions: str | None, timestamps: bool) -> None:
    if captions is not None and not timestamps:
        raise InvalidRequestError(
            'captions needs "timestamps": true (they are made of the words\' times).',
            param="captions",
        )


def _check_durations(timestamps: bool, backend: Backend) -> None:
    if timestamps and not backend.durations:
        raise InvalidRequestError(
            f"Word timestamps need a model that predicts durations; this server's "
            f"{backend.name} backend does not with its model. Start it with "
            f"{_durations_backends()} and the published model.",
            param="timestamps", code="unsupported_by_backend",
        )  # fmt: skip


def _check_model(model: str) -> None:
    if model not in MODEL_IDS:
        raise InvalidRequestError(
            f"Unknown model {model!r}; use one of: {', '.join(MODEL_IDS)}.",
            param="model", code="model_not_found",
        )  # fmt: skip


def _validate(body: SpeechRequest, max_chars: int) -> str:
    _check_model(body.model)
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
    if not marks.plain(spoken).strip():
        raise NoSpeechError("The input contains only markup, nothing to speak.", param="input")
    return spoken


class SpeechService:
    """Turns speech requests into streams of encoded audio."""

    def __init__(self, synthesizer: Synthesizer, voices: VoiceStore, settings: Settings) -> None:
        self.synthesizer = synthesizer
        self.voices = voices
        self.settings = settings

    async def create(
        self,
        body: SpeechRequest,
        *,
        request_id: str = "-",
        cancel_reason: Callable[[], str] = client_disconnected,
    ) -> Speech:
        """Check ``body``, admit it and synthesize its first chunk; raises a ``ServiceError``
        (bad input, nothing to speak, server busy) before any audio. ``cancel_reason`` says why,
        should the stream be cut short (for its log line and metrics)."""
        synthesizer = self.synthesizer
        text = _validate(body, self.settings.max_input_chars)
        _check_timestamps(body, synthesizer.backend)
        voice = self.voices.resolve(
            body.voice_spec or self.settings.default_voice, synthesizer.backend.style_as_used
        )
        lang = resolve_lang_code(body.lang_code) if body.lang_code else None
        # A whole file (``stream: false``) is heard only once it is all made: it is planned for
        # the soonest end rather than the soonest first audio, its first chunk as large as any.
        listening = body.stream or body.stream_format == "sse"
        split = body.split_sentences and listening  # a small first chunk, for admission
        # Refused at once when busy, before the markup is stripped on a thread: under overload
        # most requests end here, and each costs the admitted streams' event loop little.
        synthesizer.check_capacity(len(text), speed=body.speed, split=split)
        text = await anyio.to_thread.run_sync(_speakable_text, text)  # ~0.1 s for 4096 odd chars
        stats = StreamStats(
            request_id, len(text), voice.spec, body.response_format, time.perf_counter(),
            synthesizer.metrics, cancel_reason,
        )  # fmt: skip
        # Checked again: others may have been admitted meanwhile. No await between this and
        # opening the stream.
        synthesizer.check_capacity(len(text), speed=body.speed, split=split)
        stream = synthesizer.stream(
            text, voice, speed=body.speed, lang=lang, split=body.split_sentences,
            request_id=request_id, timestamps=body.timestamps, normalize=body.normalize,
            listening=listening,
        )  # fmt: skip
        try:
            first = await stream.first()
        except asyncio.CancelledError:  # the client hung up before its first audio
            stream.close()
            stats.finish("cancelled")
            raise
        except BaseException:
            stream.close()
            raise
        encoder = create_encoder(body.response_format, synthesizer.sample_rate)
        return Speech(encoded_audio(stream, first, encoder, stats), stats)

    def open_turn(
        self,
        options: TurnOptions,
        *,
        request_id: str = "-",
        cancel_reason: Callable[[], str] = client_disconnected,
    ) -> Turn:
        """A turn of streamed text spoken as ``options`` say; raises a ``ServiceError`` for a
        wrong setting (model, voice, language, timestamps without durations). Admission comes
        when the turn begins to speak (``Turn.begin``)."""
        synthesizer = self.synthesizer
        _check_model(options.model)
        _check_captions(options.captions, options.timestamps)
        _check_durations(options.timestamps, synthesizer.backend)
        voice = self.voices.resolve(
            options.voice_spec or self.settings.default_voice, synthesizer.backend.style_as_used
        )
        lang = resolve_lang_code(options.lang_code) if options.lang_code else None
        return Turn(
            synthesizer, voice, options, lang=lang, settings=self.settings,
            request_id=request_id, cancel_reason=cancel_reason,
        )  # fmt: skip
