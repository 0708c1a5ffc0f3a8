"""Loudness: each chunk's BS.1770 integrated loudness, and the gain that evens a stream's chunks
and brings every voice near one level.

Measured on the worker thread with each chunk (``integrated_loudness``: about 1 ms for a
2-second first chunk, well under 1 % of any chunk's synthesis); applied in reading order as the
stream delivers its chunks (``Leveller``), so nothing waits for a later chunk and first audio is
not delayed.

The gain of a chunk has two parts, both constant over the chunk (no gain moves inside speech,
so nothing pumps):

- the stream's gain: ``target`` minus the stream's level so far (the power mean of its chunks'
  loudness, weighted by their length), at most ``MAX_STREAM_GAIN_DB`` either way. It brings a
  quiet voice up and a loud one down; it settles as the stream goes on. Without a target it is 0
  (the model's own level).
- the chunk's correction: the stream's level minus the chunk's loudness, at most
  ``MAX_CHUNK_CORRECTION_DB`` either way: a chunk that came out louder or softer than the rest
  is brought to the others' level, while a gap larger than that (an aside, a shout) keeps most
  of its difference.

Then the gain is capped so the chunk's peak stays at or below ``PEAK_CEILING`` (never clipped).

A chunk rendered in windows (``tts_service.pipeline.assembly``) is sent a piece at a time, its
first piece before the rest exists: its loudness is its first piece's (at least the first
window's ``first`` frames of speech, about 0.3 s), weighted by that piece's length, and its gain
is set then and kept for its later pieces, each capped at the ceiling on its own peak.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pyloudnorm

BLOCK_S = 0.4
"""BS.1770's gating block. A chunk shorter than this is measured as one block of its own length."""
SHORTEST_S = 0.05
"""Audio shorter than this is not measured (its loudness says little): it gets the stream's gain."""
MAX_STREAM_GAIN_DB = 20.0
"""The most the stream's gain moves the model's level towards the target, either way."""
MAX_CHUNK_CORRECTION_DB = 3.0
"""The most a chunk is moved towards the stream's level, either way."""
PEAK_CEILING = 10 ** (-1 / 20)
"""The highest peak a chunk may reach after its gain (-1 dBFS)."""


def integrated_loudness(samples: np.ndarray, sample_rate: int) -> float | None:
    """BS.1770-4 integrated loudness of ``samples`` in LUFS (pyloudnorm's K-weighting and gating),
    or None when too short or silent. A chunk shorter than the 400 ms gating block is measured as
    one block of its own length (its mean square after K-weighting)."""
    seconds = samples.size / sample_rate
    if seconds < SHORTEST_S:
        return None
    # One sample under the length: pyloudnorm refuses a block a rounding error longer than it.
    meter = pyloudnorm.Meter(sample_rate, block_size=min(BLOCK_S, (samples.size - 1) / sample_rate))
    loudness = float(meter.integrated_loudness(samples.astype(np.float64)))
    return loudness if math.isfinite(loudness) else None


def decibels_to_gain(decibels: float) -> float:
    return float(10 ** (decibels / 20))


@dataclass
class Leveller:
    """One stream's gains, chunk after chunk in reading order (see the module's docstring)."""

    target: float | None = None
    """The level in LUFS every stream is brought towards; None keeps the model's level."""
    max_chunk_db: float = MAX_CHUNK_CORRECTION_DB
    max_stream_db: float = MAX_STREAM_GAIN_DB
    _power: float = field(default=0.0, repr=False)
    _seconds: float = field(default=0.0, repr=False)

    @property
    def level(self) -> float | None:
        """The stream's loudness so far (LUFS), None before a chunk was measured."""
        if self._seconds <= 0:
            return None
        return 10 * math.log10(self._power / self._seconds)

    def gain_db(self, loudness: float | None, seconds: float) -> float:
        """The gain of the next chunk, ``seconds`` long, measured at ``loudness`` (None: not
        measured); the chunk counts towards the stream's level from now on."""
        if loudness is not None:
            self._power += seconds * 10 ** (loudness / 10)
            self._seconds += seconds
        level = self.level
        if level is None:
            return 0.0
        stream = 0.0
        if self.target is not None:
            stream = float(np.clip(self.target - level, -self.max_stream_db, self.max_stream_db))
        if loudness is None:
            return stream
        return stream + float(np.clip(level - loudness, -self.max_chunk_db, self.max_chunk_db))

    def apply(self, samples: np.ndarray, loudness: float | None, seconds: float) -> np.ndarray:
        """``samples`` (a chunk, its pause included) at the next chunk's gain, its peak capped
        at ``PEAK_CEILING``."""
        return at_gain(samples, decibels_to_gain(self.gain_db(loudness, seconds)))


def at_gain(samples: np.ndarray, gain: float) -> np.ndarray:
    """``samples`` at ``gain``, or less where their peak would pass ``PEAK_CEILING``. A chunk
    sent in pieces (windows) has its gain set with its first piece; a later piece is lowered
    only where its own peak would pass the ceiling."""
    peak = float(np.max(np.abs(samples))) if samples.size else 0.0
    if peak > 0:
        gain = min(gain, PEAK_CEILING / peak)
    if gain == 1.0:
        return samples
    return (samples * np.float32(gain)).astype(np.float32)
