"""Fades at the edges of a chunk's audio, so that no join between chunks jumps (clicks).

A chunk is cut out of the model's output where its edge silence was trimmed; there the waveform
need not be at zero, and the next chunk (or the pause after it) starts at zero or elsewhere: a
step the ear hears as a click. A short raised-cosine ramp at each cut edge brings the audio to
exactly zero there. The ramp lies inside the margin of edge silence the trim keeps, so no
speech is faded.
"""

from __future__ import annotations

import numpy as np

FADE_S = 0.005
"""Length of the ramp at each edge: short enough to stay inside the kept edge silence, long
enough that the ramp itself has no audible edge (a few ms)."""


def ramp(length: int) -> np.ndarray:
    """A raised-cosine rise of ``length`` samples, from exactly 0 towards 1."""
    return (0.5 - 0.5 * np.cos(np.pi * np.arange(length) / max(1, length))).astype(np.float32)


def fade_edges(audio: np.ndarray, sample_rate: int, seconds: float = FADE_S) -> np.ndarray:
    """``audio`` with a ``seconds`` fade-in at its start and fade-out at its end (a new array):
    its first and last samples are 0. Audio shorter than two ramps is faded over halves."""
    length = min(int(seconds * sample_rate), audio.size // 2)
    if length <= 0:
        return audio
    faded = np.array(audio, dtype=np.float32)
    rise = ramp(length)
    faded[:length] *= rise
    faded[-length:] *= rise[::-1]
    return faded


def fade_in(audio: np.ndarray, length: int) -> np.ndarray:
    """``audio`` rising over its first ``length`` samples from exactly 0 (a new array)."""
    faded = np.array(audio, dtype=np.float32)
    if length > 0:
        faded[:length] *= ramp(length)
    return faded


def fade_out(audio: np.ndarray, length: int) -> np.ndarray:
    """``audio`` falling over its last ``length`` samples towards 0 (a new array)."""
    faded = np.array(audio, dtype=np.float32)
    if length > 0:
        faded[-length:] *= ramp(length)[::-1]
    return faded
