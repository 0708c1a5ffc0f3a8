"""What a chunk's synthesis is made of and gives: how a request's chunks are spoken (``Voicing``),
the audio a stream sends (``AudioChunk``: a whole chunk, or the piece of one that a window
made), and where the model's speech starts and ends (``speech_bounds``). The synthesis itself,
window by window, is :mod:`tts_service.pipeline.assembly`'s."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from kokoro_onnx.trim import trim

from tts_service.audio.fades import FADE_S
from tts_service.backends import Backend
from tts_service.text.phonemes import Phonemizer
from tts_service.timestamps import WordSpan
from tts_service.voices import Voice
from tts_service.windows import OVERLAP_FRAMES

EDGE_MARGIN_S = 0.03
"""Keep this much of the model's edge silence, so soft onsets and endings are not clipped."""
TRIM_TOP_DB = 50
"""Below the loudest sample by this many decibels is edge silence."""


@dataclass(frozen=True)
class AudioChunk:
    """A synthesized chunk, or the piece of one that a window made: its audio (the pause after
    the chunk included in its last piece) and the words that end in it."""

    index: int
    samples: np.ndarray
    tokens: int
    """The chunk's tokens (in its first piece; 0 in the others)."""
    words: tuple[WordSpan, ...] = field(default=())
    """Where its words are (samples from its start), when the stream was asked for word
    timestamps."""
    text_end: int | None = None
    """Where the text it completes ends in its source (``Chunk.end``), when known (in the
    chunk's last piece)."""
    loudness: float | None = None
    """BS.1770 integrated loudness of its speech (LUFS; None: too short or silent, or not
    measured, or not the chunk's first piece), for the stream's gain
    (``tts_service.audio.loudness.Leveller``)."""
    last: bool = True
    """Whether it ends its chunk (a chunk of one window is one piece)."""


@dataclass(frozen=True)
class WindowSizes:
    """How a chunk is cut into windows (``tts_service.windows.plan_windows``), in frames."""

    first: int
    growth: float
    largest: int
    shared: int
    """Each window of a later chunk while other streams are open."""
    overlap: int = OVERLAP_FRAMES


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
    windows: WindowSizes | None = None
    """Render each chunk in windows where the backend can (None: each chunk whole)."""

    @property
    def windowed(self) -> bool:
        """Whether chunks are rendered a window at a time."""
        return self.windows is not None and self.backend.windowed

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
