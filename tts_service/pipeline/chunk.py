"""One chunk's synthesis: the model call, the trim of its edge silence (faded at the cuts, see
``tts_service.audio.fades``), its loudness, the pause after it and where its words are. A function
of its inputs; timing, scheduling and the stream's gain are the stream's."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from kokoro_onnx.trim import trim

from tts_service.audio.fades import FADE_S, fade_edges
from tts_service.audio.loudness import integrated_loudness
from tts_service.backends import Backend
from tts_service.chunking import Chunk
from tts_service.text.phonemes import Phonemizer
from tts_service.text.timing import spoken_speed
from tts_service.timestamps import WordSpan, word_spans
from tts_service.voices import Voice

EDGE_MARGIN_S = 0.03
"""Keep this much of the model's edge silence, so soft onsets and endings are not clipped."""
TRIM_TOP_DB = 50
"""Below the loudest sample by this many decibels is edge silence."""


@dataclass(frozen=True)
class AudioChunk:
    """A synthesized chunk: its audio (the pause after it included) and its words."""

    index: int
    samples: np.ndarray
    tokens: int
    words: tuple[WordSpan, ...] = field(default=())
    """Where its words are, when the stream was asked for word timestamps."""
    text_end: int | None = None
    """Where the text it completes ends in its source (``Chunk.end``), when known."""
    loudness: float | None = None
    """BS.1770 integrated loudness of its speech (LUFS; None: too short or silent, or not
    measured), for the stream's gain (``tts_service.audio.loudness.Leveller``)."""


@dataclass(frozen=True)
class Voicing:
    """How a request's chunks are spoken: the model, the voice, the speed."""

    backend: Backend
    phonemizer: Phonemizer
    voice: Voice
    speed: float
    timestamps: bool = False
    """Locate each chunk's words in its audio (the backend must give durations)."""
    fade: float = FADE_S
    """Seconds of raised-cosine fade at each edge where the model's audio is cut (0: none)."""
    measure_loudness: bool = True
    """Measure each chunk's loudness (for the stream's gain)."""

    @property
    def sample_rate(self) -> int:
        return self.backend.sample_rate


def speech_bounds(audio: np.ndarray, sample_rate: int) -> tuple[int, int]:
    """Where the model's speech starts and ends, with a short margin of its edge silence."""
    if audio.size == 0:
        return 0, 0
    _, (start, end) = trim(audio, top_db=TRIM_TOP_DB)
    margin = int(EDGE_MARGIN_S * sample_rate)
    return max(0, int(start) - margin), min(audio.size, int(end) + margin)


def synthesize_chunk(chunk: Chunk, voicing: Voicing) -> AudioChunk:
    """Synthesize ``chunk`` (blocking: run it on a worker thread)."""
    tokens = voicing.phonemizer.tokenize(chunk.phonemes)
    style = voicing.voice.style_for(len(tokens))
    backend = voicing.backend
    speed = spoken_speed(voicing.speed, chunk.rate)
    durations = None
    if voicing.timestamps:
        audio, durations = backend.synthesize_with_durations(tokens, style, speed)
    else:
        audio = backend.synthesize(tokens, style, speed)
    start, end = speech_bounds(audio, backend.sample_rate)
    words: tuple[WordSpan, ...] = ()
    if durations is not None:
        words = tuple(word_spans(chunk.phonemes, chunk.words, durations, start, end - start))
    audio = fade_edges(audio[start:end], backend.sample_rate, voicing.fade)
    loudness = integrated_loudness(audio, backend.sample_rate) if voicing.measure_loudness else None
    if chunk.lead:
        lead = int(chunk.lead * backend.sample_rate)
        audio = np.concatenate([np.zeros(lead, dtype=np.float32), audio])
        words = tuple(WordSpan(w.word, w.start + lead, w.end + lead) for w in words)
    if chunk.pause:
        silence = np.zeros(int(chunk.pause * backend.sample_rate), dtype=np.float32)
        audio = np.concatenate([audio, silence])
    return AudioChunk(chunk.index, audio, len(tokens), words, chunk.end, loudness)
