"""Warm-up phrases for the phrase cache (``TTS_PHRASE_CACHE_WARMUP``): read from a file with the
model, synthesized in the background once the service is ready.

The file is UTF-8 text, one phrase per line::

    # Greetings and fillers
    Sure.
    One moment, please.
    bf_emma | Good morning!

``voice | phrase`` speaks the phrase with that voice (a name, an OpenAI name or a blend), a line
without ``|`` with ``TTS_DEFAULT_VOICE``; blank lines and lines starting with ``#`` are skipped.
Each phrase goes through the serving layer as a streamed speech request at speed 1 would, so its
chunks are the ones such a request, or a WebSocket or Wyoming turn of the same text, looks up.

Readiness does not wait for them: a request for a phrase not warmed yet is synthesized as
usual (and then kept). They run one after another, each as a new stream, so they take one
worker at a time and go through admission like any request.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from tts_service.errors import ServiceError
from tts_service.schemas import SpeechRequest

if TYPE_CHECKING:
    from tts_service.serving import SpeechService
    from tts_service.voices import VoiceStore

logger = logging.getLogger(__name__)

MAX_PHRASES = 10_000
"""The most phrases a warm-up file may list."""


class WarmupFileError(ValueError):
    """The warm-up file cannot be used; the message says where and why."""


@dataclass(frozen=True)
class WarmPhrase:
    text: str
    voice: str | None
    """The voice spec, None: ``TTS_DEFAULT_VOICE``."""


def parse_phrases(text: str, source: str = "the warm-up file") -> list[WarmPhrase]:
    """The phrases of a warm-up file's ``text`` (see the module's docstring)."""
    phrases = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        voice, bar, phrase = line.partition("|")
        if not bar:
            voice, phrase = "", line
        voice, phrase = voice.strip(), phrase.strip()
        if bar and not voice:
            raise WarmupFileError(f"{source}, line {number}: no voice before '|'.")
        if not phrase:
            raise WarmupFileError(f"{source}, line {number}: no phrase.")
        phrases.append(WarmPhrase(phrase, voice or None))
    if len(phrases) > MAX_PHRASES:
        raise WarmupFileError(f"{source} lists {len(phrases)} phrases; at most {MAX_PHRASES}.")
    return phrases


def read_phrases(path: Path, voices: VoiceStore) -> list[WarmPhrase]:
    """The phrases of the file at ``path``, their voices checked; WarmupFileError when it is
    missing, unreadable, or names a voice that does not exist."""
    source = f"TTS_PHRASE_CACHE_WARMUP ({path})"
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise WarmupFileError(f"{source} cannot be read: {exc}") from exc
    phrases = parse_phrases(text, source)
    for phrase in phrases:
        if phrase.voice is not None:
            try:
                voices.resolve(phrase.voice)
            except ServiceError as exc:
                raise WarmupFileError(f"{source}: {exc.message}") from exc
    return phrases


async def warm(service: SpeechService, phrases: list[WarmPhrase]) -> int:
    """Synthesize ``phrases`` through ``service``, one after another, into its phrase cache;
    returns how many were synthesized. A phrase refused (the server busy, nothing to speak) is
    logged and skipped."""
    started, done = time.perf_counter(), 0
    for phrase in phrases:
        request = SpeechRequest(
            input=phrase.text, voice=phrase.voice, response_format="pcm", stream=True
        )
        try:
            speech = await service.create(request, request_id="phrase-warmup")
        except ServiceError as exc:
            logger.warning("Phrase cache warm-up skipped %r: %s", phrase.text, exc.message)
            continue
        async for _ in speech.items:
            pass
        done += 1
    cache = service.synthesizer.phrase_cache.stats()
    logger.info(
        "Phrase cache warm-up: %d of %d phrases synthesized in %.2fs (%d chunks, %d bytes cached)",
        done, len(phrases), time.perf_counter() - started, cache["entries"], cache["bytes"],
    )  # fmt: skip
    return done
