"""A stand-in for the Kokoro model, and a small voice catalogue, for fast tests.

``StandInBackend`` implements ``tts_service.backends.Backend`` for real (no mocks): it returns a
440 Hz tone whose length is proportional to ``len(tokens) / speed``, wrapped in silence so that
the service's edge trimming has something to cut, and it records every call.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

import numpy as np

from tts_service.voices import VoiceStore

SAMPLE_RATE = 24_000
SECONDS_PER_TOKEN = 0.06
EDGE_SILENCE_S = 0.2
TONE_HZ = 440.0
TONE_AMPLITUDE = 0.5

VOICE_IDS = (
    "af_heart",
    "af_bella",
    "bm_fable",
    "am_onyx",
    "af_nova",
    "af_alloy",
    "ef_dora",
    "jf_alpha",
)


@dataclass(frozen=True)
class Call:
    """One ``synthesize`` call as the stand-in saw it."""

    tokens: int
    speed: float
    style: np.ndarray
    started: float
    """``time.perf_counter()`` when the call began."""

    @property
    def tone_seconds(self) -> float:
        return tone_seconds(self.tokens, self.speed)


def tone_seconds(tokens: int, speed: float) -> float:
    """Seconds of (non-silent) tone the stand-in produces for ``tokens`` at ``speed``."""
    return round(SECONDS_PER_TOKEN * tokens / speed * SAMPLE_RATE) / SAMPLE_RATE


@dataclass
class StandInBackend:
    """A deterministic fake model: tone length tracks tokens/speed; calls are recorded.

    ``delay``: seconds slept per call (slow inference). ``fail_on_call``: 0-based index of the
    call that raises ``RuntimeError`` (a failure in the middle of a stream).
    """

    delay: float = 0.0
    fail_on_call: int | None = None
    name: str = "standin"
    sample_rate: int = SAMPLE_RATE
    calls: list[Call] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def synthesize(self, tokens: list[int], style: np.ndarray, speed: float) -> np.ndarray:
        with self._lock:
            index = len(self.calls)
            self.calls.append(Call(len(tokens), speed, np.array(style), time.perf_counter()))
        if self.delay:
            time.sleep(self.delay)
        if self.fail_on_call is not None and index == self.fail_on_call:
            raise RuntimeError(f"stand-in inference failure on call {index}")
        n = int(round(tone_seconds(len(tokens), speed) * self.sample_rate))
        t = np.arange(n, dtype=np.float64) / self.sample_rate
        tone = (TONE_AMPLITUDE * np.sin(2 * np.pi * TONE_HZ * t)).astype(np.float32)
        silence = np.zeros(int(EDGE_SILENCE_S * self.sample_rate), dtype=np.float32)
        return np.concatenate([silence, tone, silence])

    @property
    def call_count(self) -> int:
        with self._lock:
            return len(self.calls)

    @property
    def total_tone_seconds(self) -> float:
        with self._lock:
            return sum(call.tone_seconds for call in self.calls)


def voice_value(voice_id: str) -> float:
    """The constant every entry of ``voice_id``'s fake style table holds (1.0, 2.0, ...)."""
    return float(VOICE_IDS.index(voice_id) + 1)


def make_voice_store(ids: tuple[str, ...] = VOICE_IDS) -> VoiceStore:
    """A VoiceStore of fake voices, each a (510, 1, 256) float32 table of one distinct value."""
    return VoiceStore(
        {
            voice_id: np.full((510, 1, 256), voice_value(voice_id), dtype=np.float32)
            for voice_id in ids
        }
    )
