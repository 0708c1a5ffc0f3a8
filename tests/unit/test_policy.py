"""The scheduling policy (``tts_service.policy``): pure rules, checked without threads or clocks."""

from __future__ import annotations

import pytest

from tts_service.policy import (
    GUESS_PHONEMES,
    MAX_RETRY_AFTER_S,
    PHONEMES_PER_SECOND,
    Playback,
    Priority,
    admits,
    audio_guess,
    chunk_phonemes,
    chunk_seconds,
    deadline,
    first_chunk_key,
    growth,
    retry_after,
    urgency,
)


def test_a_first_chunk_goes_before_any_other() -> None:
    others = [
        urgency(deadline=d, compute=c, now=0.0, margin=8.0, established=e)
        for d in (-5.0, 0.0, 100.0)
        for c in (0.0, 3.0)
        for e in (False, True)
    ]
    assert all(first_chunk_key() < key for key in others)


def test_priorities_run_first_then_at_risk_then_late_then_spare() -> None:
    assert sorted(Priority, reverse=True) == [
        Priority.SPARE, Priority.LATE, Priority.AT_RISK, Priority.FIRST,
    ]  # fmt: skip


def key_at(deadline: float, *, established: bool = False) -> tuple[Priority, float]:
    """The key of a chunk needing 1 s of inference, at 10 s, with an 8 s margin."""
    return urgency(deadline=deadline, compute=1.0, now=10.0, margin=8.0, established=established)


@pytest.mark.parametrize(
    ("deadline", "established", "key"),
    [
        (20.0, False, (Priority.SPARE, 20.0)),  # 9 s of slack: time to spare, by deadline
        (15.0, False, (Priority.AT_RISK, 4.0)),  # less slack than the margin: by slack
        (10.5, False, (Priority.LATE, 10.5)),  # late, for a new stream: by deadline
        # A reading that has played ``margin`` seconds is kept fed before late short replies.
        (10.5, True, (Priority.AT_RISK, -0.5)),
    ],
)
def test_a_chunk_is_spare_at_risk_or_late_by_its_slack(
    deadline: float, established: bool, key: tuple[Priority, float]
) -> None:
    assert key_at(deadline, established=established) == pytest.approx(key)


def test_at_risk_chunks_go_least_slack_first() -> None:
    assert key_at(12.0) < key_at(15.0)


def test_the_deadline_is_playback_start_plus_the_audio_before_the_chunk() -> None:
    playback = Playback(start=100.0, delivered=2, delivered_seconds=6.0)
    assert deadline(playback, [1.5, 2.5], now=103.0) == 110.0


def test_before_any_audio_is_delivered_playback_starts_now() -> None:
    playback = Playback(start=None, delivered=0, delivered_seconds=0.0)
    assert deadline(playback, [2.0], now=50.0) == 52.0


def test_audio_is_measured_once_synthesized_and_guessed_from_phonemes_before() -> None:
    assert audio_guess(30, 4.2) == 4.2
    assert audio_guess(30) == 30 / PHONEMES_PER_SECOND
    assert audio_guess(None) == GUESS_PHONEMES / PHONEMES_PER_SECOND


@pytest.mark.parametrize(
    ("open_streams", "queued", "admitted"),
    [(0, 0, True), (3, 9, True), (4, 0, False), (0, 10, False)],
)
def test_a_stream_is_admitted_below_both_limits(
    open_streams: int, queued: int, admitted: bool
) -> None:
    assert (
        admits(open_streams=open_streams, queued=queued, max_streams=4, max_queued=10) is admitted
    )


def test_retry_after_is_the_queue_at_the_measured_speed_shared_by_the_workers() -> None:
    per_chunk = GUESS_PHONEMES * 0.02  # 2 s
    assert retry_after(queued=6, seconds_per_phoneme=0.02, workers=3) == round(6 * per_chunk / 3)


def test_retry_after_is_at_least_a_second_and_at_most_a_minute() -> None:
    assert retry_after(queued=0, seconds_per_phoneme=0.0, workers=1) == 1
    assert retry_after(queued=0, seconds_per_phoneme=0.001, workers=0) == 1
    assert retry_after(queued=1000, seconds_per_phoneme=1.0, workers=1) == MAX_RETRY_AFTER_S


def test_chunks_grow_by_the_setting_or_a_share_of_the_measured_speed_if_more() -> None:
    assert growth(1.2, 0.6, 0.04) == 1.2  # about 1.7x real time: the setting holds
    assert growth(1.2, 0.6, 0.01) == pytest.approx(0.6 / (15 * 0.01))  # about 6.7x real time


@pytest.mark.parametrize("speed", [0.25, 0.5, 1.0, 1.7, 4.0])
@pytest.mark.parametrize("max_seconds", [10.0, 30.0, 120.0])
def test_the_largest_chunk_at_a_speed_lasts_at_most_the_bound(
    speed: float, max_seconds: float
) -> None:
    phonemes = chunk_phonemes(max_seconds, speed)
    assert chunk_seconds(phonemes, speed) <= max_seconds < chunk_seconds(phonemes + 1, speed)


def test_a_text_spoken_four_times_slower_goes_in_chunks_a_quarter_as_long() -> None:
    # Fewer still: the silence at a chunk's edges slows down too.
    assert chunk_phonemes(30.0, 0.25) <= chunk_phonemes(30.0, 1.0) / 4
