"""Windows over a chunk's frames and their joins (``tts_service.windows``), on synthetic signals."""

from __future__ import annotations

import numpy as np
import pytest

from tts_service.backends import SAMPLES_PER_FRAME
from tts_service.windows import Joiner, Window, plan_windows, render_windows

PLANS = [
    (frames, first, growth, largest, overlap)
    for frames in (1, 2, 7, 12, 13, 19, 100, 344, 591, 850)
    for first, growth, largest in ((12, 2.0, 128), (1, 1.0, 1), (8, 1.5, 40), (20, 3.0, 500))
    for overlap in (0, 2, 4)
]


@pytest.mark.parametrize(("frames", "first", "growth", "largest", "overlap"), PLANS)
def test_plan_covers_every_frame_once_without_empty_windows(
    frames: int, first: int, growth: float, largest: int, overlap: int
) -> None:
    windows = plan_windows(frames, first, growth, largest, overlap)
    assert windows[0].start == 0
    assert windows[-1].end == frames
    for before, after in zip(windows, windows[1:], strict=False):
        assert before.end == after.start
    for window in windows:
        assert window.end > window.start
        assert window.end <= window.render_end <= min(frames, window.end + overlap)
        assert window.end - window.start <= max(first, largest) + largest // 2 + 1


def test_first_window_is_small_and_later_ones_grow_to_the_largest() -> None:
    sizes = [w.end - w.start for w in plan_windows(600, 12, 2.0, 128)]
    assert sizes[0] == 12
    assert sizes[:5] == [12, 24, 48, 96, 128]
    assert max(sizes) <= 128 + 64


def test_the_last_window_has_no_overlap_beyond_the_chunk() -> None:
    windows = plan_windows(100, 12, 2.0, 128, overlap=4)
    assert windows[-1].render_end == 100
    assert all(w.render_end == w.end + 4 for w in windows[:-1])


def test_no_frames_no_windows() -> None:
    assert plan_windows(0, 12, 2.0, 128) == []


def _render_of(signal: np.ndarray) -> callable:  # type: ignore[valid-type]
    def render(start: int, end: int, context: int) -> np.ndarray:
        return signal[start * SAMPLES_PER_FRAME : end * SAMPLES_PER_FRAME]

    return render


@pytest.mark.parametrize("overlap", [0, 1, 2, 4])
def test_windows_of_one_signal_join_back_into_it(overlap: int) -> None:
    """Where every window renders the same audio as the whole (no normalization difference),
    the crossfades blend equal samples: the joined signal is the whole one, sample for sample."""
    frames = 97
    t = np.arange(frames * SAMPLES_PER_FRAME) / 24_000
    whole = (0.5 * np.sin(2 * np.pi * 220 * t)).astype(np.float32)
    windows = plan_windows(frames, 5, 2.0, 30, overlap)
    joined = np.concatenate(list(render_windows(_render_of(whole), windows)))
    assert joined.size == whole.size
    np.testing.assert_allclose(joined, whole, atol=1e-6)


def test_a_crossfade_removes_the_step_between_windows_that_disagree() -> None:
    """Each window renders the whole's sine at its own level (as windowed normalization does):
    without an overlap the level changes in one step at the join; with one it changes smoothly,
    so no step is larger than the sine's own."""
    frames = 40
    t = np.arange(frames * SAMPLES_PER_FRAME) / 24_000
    sine = np.sin(2 * np.pi * 233 * t)  # the joins fall near its peaks.astype(np.float32)
    own_step = float(np.max(np.abs(np.diff(sine))))

    def joined(overlap: int) -> np.ndarray:
        windows = plan_windows(frames, 10, 1.0, 10, overlap)
        levels = iter([1.0, 0.5, 1.0, 0.5])

        def render(start: int, end: int, context: int) -> np.ndarray:
            return next(levels) * sine[start * SAMPLES_PER_FRAME : end * SAMPLES_PER_FRAME]

        return np.concatenate(list(render_windows(render, windows)))

    hard, faded = joined(0), joined(2)
    assert hard.size == faded.size == sine.size
    assert np.max(np.abs(np.diff(hard))) > 1.3 * own_step
    assert np.max(np.abs(np.diff(faded))) <= 1.05 * own_step


def test_a_window_shorter_than_the_overlap_before_it_still_joins() -> None:
    """A last window of one frame after an overlap of four: the crossfade is shortened to it and
    every sample of the chunk comes out once."""
    joiner = Joiner()
    first = Window(0, 10, 14)
    last = Window(10, 11, 11)
    ones = np.ones(14 * SAMPLES_PER_FRAME, dtype=np.float32)
    out = [joiner.add(first, ones), joiner.add(last, np.ones(SAMPLES_PER_FRAME, np.float32))]
    assert sum(part.size for part in out) == 11 * SAMPLES_PER_FRAME
    np.testing.assert_allclose(np.concatenate(out), 1.0)
