"""A stand-in for the Kokoro model, a small voice catalogue and a counting phonemizer, for fast
tests.

``StandInBackend`` implements ``tts_service.backends.Backend`` for real (no mocks): it returns a
440 Hz tone whose length is proportional to ``len(tokens) / speed``, wrapped in silence so that
the service's edge trimming has something to cut, and it records every call. Asked for
durations, it says every token lasts ``FRAMES_PER_TOKEN`` frames of 600 samples and each boundary
pad ``PAD_FRAMES``, and returns audio of exactly that shape: tone for each sounding phoneme,
silence for the pads, spaces and punctuation, so every word is a burst of tone a test can find.

With ``windowed`` it stands for a model split into its text and waveform stages: ``prepare``
(no delay) makes the durations' audio, and ``render`` slices it exactly, sleeping
``window_delay`` per call and recording each (``renders``).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

import numpy as np
from kokoro_onnx.config import DEFAULT_VOCAB

from tts_service.backends import SAMPLES_PER_FRAME, Prepared, prepared_whole, render_whole
from tts_service.config import Settings
from tts_service.pipeline import AudioChunk, SpeechStream
from tts_service.synthesis import Synthesizer
from tts_service.text.phonemes import Phonemizer, is_sounding
from tts_service.voices import VoiceStore

SAMPLE_RATE = 24_000
SECONDS_PER_TOKEN = 0.06
EDGE_SILENCE_S = 0.2
TONE_HZ = 440.0
TONE_AMPLITUDE = 0.5
FRAMES_PER_TOKEN = 3
PAD_FRAMES = 8  # = EDGE_SILENCE_S
_SILENT_TOKENS = frozenset(i for p, i in DEFAULT_VOCAB.items() if not is_sounding(p))

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


@dataclass(frozen=True)
class Render:
    """One ``render`` call of a windowed stand-in."""

    chunk: int
    """Which prepared chunk (its ``id``)."""
    start: int
    end: int
    started: float
    """``time.perf_counter()`` when the call began."""


def tone_seconds(tokens: int, speed: float) -> float:
    """Seconds of (non-silent) tone the stand-in produces for ``tokens`` at ``speed``."""
    return round(SECONDS_PER_TOKEN * tokens / speed * SAMPLE_RATE) / SAMPLE_RATE


@dataclass
class StandInBackend:
    """A deterministic fake model: tone length tracks tokens/speed; calls are recorded.

    ``delay``: seconds slept per call (slow inference), cut short by ``interrupt``, which makes
    that call and every later one raise; unless ``interruptible`` is false: then a running call
    sleeps on (as PyTorch's forward pass cannot be stopped). ``fail_on_call``: 0-based index of the
    call that raises ``RuntimeError`` (a failure in the middle of a stream). ``durations``:
    whether it offers ``synthesize_with_durations`` (as the torch backend does; ONNX does not).
    """

    delay: float = 0.0
    fail_on_call: int | None = None
    name: str = "standin"
    sample_rate: int = SAMPLE_RATE
    durations: bool = True
    interruptible: bool = True
    style_dtype: type[np.floating] = np.float32
    """The precision it says it computes in (``style_as_used``): float16 stands for a half
    precision PyTorch backend."""
    windowed: bool = False
    window_delay: float = 0.0
    calls: list[Call] = field(default_factory=list)
    renders: list[Render] = field(default_factory=list)
    prepares: list[tuple[int, int]] = field(default_factory=list)
    """Each ``prepare`` of a windowed stand-in: its tokens and the ``id`` of what it made."""
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _interrupted: threading.Event = field(default_factory=threading.Event, repr=False)

    def _call(self, tokens: list[int], style: np.ndarray, speed: float) -> None:
        with self._lock:
            index = len(self.calls)
            self.calls.append(Call(len(tokens), speed, np.array(style), time.perf_counter()))
        if self.delay and self.interruptible:
            self._interrupted.wait(self.delay)
        elif self.delay:
            time.sleep(self.delay)
        if self._interrupted.is_set():
            raise RuntimeError(f"stand-in inference interrupted on call {index}")
        if self.fail_on_call is not None and index == self.fail_on_call:
            raise RuntimeError(f"stand-in inference failure on call {index}")

    def _tone(self, samples: int) -> np.ndarray:
        t = np.arange(samples, dtype=np.float64) / self.sample_rate
        tone = (TONE_AMPLITUDE * np.sin(2 * np.pi * TONE_HZ * t)).astype(np.float32)
        silence = np.zeros(int(EDGE_SILENCE_S * self.sample_rate), dtype=np.float32)
        return np.concatenate([silence, tone, silence])

    def synthesize(self, tokens: list[int], style: np.ndarray, speed: float) -> np.ndarray:
        self._call(tokens, style, speed)
        return self._tone(int(round(tone_seconds(len(tokens), speed) * self.sample_rate)))

    def synthesize_with_durations(
        self, tokens: list[int], style: np.ndarray, speed: float
    ) -> tuple[np.ndarray, np.ndarray]:
        if not self.durations:
            raise NotImplementedError("this stand-in gives no durations")
        self._call(tokens, style, speed)
        return self._with_durations(tokens)

    def _with_durations(self, tokens: list[int]) -> tuple[np.ndarray, np.ndarray]:
        durations = np.array([PAD_FRAMES, *[FRAMES_PER_TOKEN] * len(tokens), PAD_FRAMES])
        audio = self._tone(len(tokens) * FRAMES_PER_TOKEN * SAMPLES_PER_FRAME)
        frame = FRAMES_PER_TOKEN * SAMPLES_PER_FRAME
        start = PAD_FRAMES * SAMPLES_PER_FRAME
        for n, token in enumerate(tokens):
            if token in _SILENT_TOKENS:
                audio[start + n * frame : start + (n + 1) * frame] = 0.0
        return audio, durations

    def prepare(self, tokens: list[int], style: np.ndarray, speed: float) -> Prepared:
        if self.windowed:
            prepared = prepared_whole(*self._with_durations(tokens))
            with self._lock:
                self.prepares.append((len(tokens), id(prepared)))
            return prepared
        if self.durations:
            return prepared_whole(*self.synthesize_with_durations(tokens, style, speed))
        return prepared_whole(self.synthesize(tokens, style, speed), None)

    def render(self, prepared: Prepared, start: int, end: int, context: int = 0) -> np.ndarray:
        if self.windowed:
            with self._lock:
                self.renders.append(Render(id(prepared), start, end, time.perf_counter()))
            if self.window_delay:
                self._interrupted.wait(self.window_delay)
            if self._interrupted.is_set():
                raise RuntimeError("stand-in render interrupted")
        return render_whole(prepared, start, end)

    def style_as_used(self, styles: np.ndarray) -> np.ndarray:
        with np.errstate(over="ignore"):
            return np.asarray(styles, dtype=self.style_dtype).astype(np.float32)

    def interrupt(self) -> None:
        self._interrupted.set()

    def preempt(self, thread: int) -> bool:
        """Stops nothing (a stand-in's render is a slice)."""
        return False

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


class CountingPhonemizer(Phonemizer):
    """The real phonemizer, counting how many times it was asked to phonemize."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[str] = []

    def phonemize(self, text: str, lang: str) -> str:
        self.calls.append(text)
        return super().phonemize(text, lang)


def standin_synthesizer(backend: StandInBackend, **settings: object) -> Synthesizer:
    """A synthesizer over ``backend`` with a counting phonemizer and ``settings``."""
    return Synthesizer(backend, CountingPhonemizer(), Settings(warmup=False, **settings))  # type: ignore[arg-type]


async def collect(stream: SpeechStream) -> list[AudioChunk]:
    """Every piece of a stream's audio."""
    return [piece async for piece in stream]
