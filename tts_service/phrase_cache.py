"""The phrase cache: the model's audio of recently synthesized chunks, so that a chunk spoken
again (a greeting, "Sure.", "One moment.") skips the scheduler and the model.

A chunk's audio is determined by its phonemes (which reflect the normalised text and the
language), the voice (the resolved blend: every spelling of one blend is one key), the speed it
is spoken at, and the model (backend kind, model file, precision): that is the key
(``CacheKey``). What is stored (``Rendition``) is what the model made of the chunk: its
windows' audio as rendered, before anything the stream does with it (the joins of its windows,
the trim of its edge silence and its fades, its pauses, its word spans, the stream's loudness
gain), and the durations word timestamps are located with. A hit goes through all of that
again (``tts_service.pipeline.assembly.ChunkAssembly``, then the stream), exactly as the miss
that stored it did, so a repeat sounds identical and its timestamps work.

Bounded in bytes (``TTS_PHRASE_CACHE_BYTES``, least recently used out first); which chunks are
kept at all is ``policy.caches_chunk``. Thread-safe: worker threads and the event loop share it.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np
from cachetools import LRUCache

from tts_service import policy
from tts_service.backends import SAMPLE_RATE, SAMPLES_PER_FRAME
from tts_service.config import Settings
from tts_service.metrics import Metrics
from tts_service.windows import Window


@dataclass(frozen=True)
class CacheKey:
    """Everything that determines a chunk's audio."""

    phonemes: str
    voice: str
    """The resolved blend (``Voice.identity``)."""
    speed: float
    """The speed the chunk is spoken at (the request's, times the chunk's rate)."""
    model: str
    """The backend kind, model file and precision (``model_identity``)."""


@dataclass(frozen=True)
class Rendition:
    """What the model made of a chunk: its windows and each one's audio as rendered, the
    durations of its tokens (None where they were not asked for) and how many tokens it had."""

    tokens: int
    frames: int
    durations: np.ndarray | None
    windows: tuple[Window, ...]
    audio: tuple[np.ndarray, ...]

    @property
    def nbytes(self) -> int:
        durations = 0 if self.durations is None else self.durations.nbytes
        return sum(a.nbytes for a in self.audio) + durations

    @property
    def seconds(self) -> float:
        """The chunk's audio, its edge silence untrimmed."""
        return self.frames * SAMPLES_PER_FRAME / SAMPLE_RATE

    def frozen(self) -> Rendition:
        """A copy that owns its arrays (a render may be a view of a larger buffer) and that
        nobody can change."""
        audio = tuple(_read_only(a) for a in self.audio)
        durations = None if self.durations is None else _read_only(self.durations)
        return Rendition(self.tokens, self.frames, durations, self.windows, audio)


def _read_only(array: np.ndarray) -> np.ndarray:
    copy = np.array(array, copy=True)
    copy.setflags(write=False)
    return copy


def model_identity(backend_name: str, settings: Settings) -> str:
    """The model a chunk is rendered by: the backend, and every setting that picks its model
    file or its precision (those a backend does not read change nothing but the key)."""
    onnx = settings.model_path.name if settings.model_path else "default"
    torch = settings.torch_weights_path.name if settings.torch_weights_path else "default"
    return f"{backend_name}:{onnx}:{torch}:{settings.torch_dtype}:{settings.torch_device}"


class _Lru(LRUCache[CacheKey, Rendition]):
    """cachetools' LRU cache, sized in bytes, counting what it evicts."""

    def __init__(self, capacity: int, metrics: Metrics) -> None:
        super().__init__(max(1, capacity), getsizeof=lambda r: r.nbytes)
        self._metrics = metrics

    def popitem(self) -> tuple[CacheKey, Rendition]:
        item = super().popitem()
        self._metrics.phrase_cache_evictions.inc()
        return item


class PhraseCache:
    """Recently synthesized chunks by ``CacheKey``, at most ``capacity`` bytes of audio
    (0: off: nothing is looked up or stored)."""

    def __init__(self, capacity: int, model: str, metrics: Metrics) -> None:
        self.capacity = capacity
        self.model = model
        self._metrics = metrics
        self._lock = threading.Lock()
        self._entries = _Lru(capacity, metrics)

    @property
    def enabled(self) -> bool:
        return self.capacity > 0

    def key(self, phonemes: str, voice: str, speed: float) -> CacheKey:
        return CacheKey(phonemes, voice, float(speed), self.model)

    def get(self, key: CacheKey, *, durations: bool = False) -> Rendition | None:
        """The chunk's rendition, now the most recently used; None (a miss) where there is
        none, or where ``durations`` are needed (word timestamps) and it was stored without."""
        if not self.enabled:
            return None
        with self._lock:
            found = self._entries.get(key)
        if found is None or (durations and found.durations is None):
            self._metrics.phrase_cache_misses.inc()
            return None
        self._metrics.phrase_cache_hits.inc()
        return found

    def put(self, key: CacheKey, rendition: Rendition) -> bool:
        """Keep a complete chunk's rendition where ``policy.caches_chunk`` says so (then the
        least recently used go until it fits); whether it was kept. One kept with durations is
        not replaced by one without."""
        if not policy.caches_chunk(rendition.seconds, rendition.nbytes, self.capacity):
            return False
        stored = rendition.frozen()
        with self._lock:
            known = self._entries.get(key)
            if known is not None and known.durations is not None and stored.durations is None:
                return False
            self._entries[key] = stored
            self._metrics.phrase_cache_stores.inc()
            self._metrics.phrase_cache_bytes.set(self._entries.currsize)
            self._metrics.phrase_cache_entries.set(len(self._entries))
        return True

    def stats(self) -> dict[str, int]:
        """Its size now, for the health details."""
        with self._lock:
            return {
                "entries": len(self._entries),
                "bytes": int(self._entries.currsize),
                "capacity_bytes": self.capacity,
            }
