"""Below the chunk: which runs of frames a chunk's audio is rendered in, and how they are joined.

A prepared chunk (``Backend.prepare``: the model's text stage) is rendered a window at a time
(``Backend.render``). The first window is small, so first audio comes soon; later ones grow, so
the per-call overhead is paid rarely. Each window is rendered with ``overlap`` frames beyond its
end, and the next window's start is crossfaded with that tail, so the joins stay smooth where a
window's audio differs slightly from the whole chunk's (the waveform stage's normalization sees
only its window).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np

from tts_service.backends import (
    FIRST_WINDOW_CONTEXT_FRAMES,
    SAMPLES_PER_FRAME,
    WINDOW_CONTEXT_FRAMES,
)

OVERLAP_FRAMES = 2
"""Frames each window renders beyond its end, crossfaded with the next window's start. Without
it a join is a step between two renders that disagree slightly, heard as a click (measured:
docs/performance.md, Windowed rendering); 2 frames (50 ms) removed every click measured."""


@dataclass(frozen=True)
class Window:
    start: int
    end: int
    """Frames ``start``–``end`` of the chunk are this window's own."""
    render_end: int
    """Rendered up to here: ``end`` plus the overlap the next window is crossfaded over."""
    context: int = WINDOW_CONTEXT_FRAMES
    """Frames rendered on each side and cropped off (``Backend.render``)."""


def plan_windows(
    frames: int,
    first: int,
    growth: float,
    largest: int,
    overlap: int = OVERLAP_FRAMES,
    first_context: int = FIRST_WINDOW_CONTEXT_FRAMES,
) -> list[Window]:
    """Windows covering ``frames``: ``first`` frames, then each ``growth`` times the one before,
    at most ``largest``; a remainder smaller than half a window joins the window before it. The
    first window has ``first_context`` frames of context (first audio waits for it), the others
    ``WINDOW_CONTEXT_FRAMES``."""
    windows: list[Window] = []
    start, size = 0, max(1, first)
    while start < frames:
        end = min(frames, start + size)
        if frames - end < size // 2:
            end = frames
        context = first_context if not windows else WINDOW_CONTEXT_FRAMES
        windows.append(Window(start, end, min(frames, end + overlap), context))
        start = end
        size = min(largest, max(size + 1, int(size * growth)))
    return windows


class Joiner:
    """Joins rendered windows into one continuous signal, crossfading each window's overlap tail
    with the next window's head (raised cosine)."""

    def __init__(self) -> None:
        self._tail: np.ndarray | None = None

    def add(self, window: Window, audio: np.ndarray) -> np.ndarray:
        """``audio`` rendered for ``window`` (``start``–``render_end``) → the samples that are now
        final (its own frames, the overlap kept back for the next window)."""
        own = (window.end - window.start) * SAMPLES_PER_FRAME
        body, tail = audio[:own].astype(np.float32, copy=True), audio[own:]
        if self._tail is not None and self._tail.size:
            n = min(self._tail.size, body.size)
            fade_in = 0.5 - 0.5 * np.cos(np.linspace(0.0, np.pi, n, dtype=np.float32))
            body[:n] = self._tail[:n] * (1.0 - fade_in) + body[:n] * fade_in
        self._tail = tail
        return body


def render_windows(
    render: Callable[[int, int, int], np.ndarray], windows: list[Window]
) -> Iterator[np.ndarray]:
    """Every window's final samples in order, ``render(start, end, context)`` each, one after
    another (for benchmarks and tests; the service schedules each window as its own task)."""
    joiner = Joiner()
    for window in windows:
        yield joiner.add(window, render(window.start, window.render_end, window.context))
