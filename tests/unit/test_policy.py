"""The scheduling policy (``tts_service.policy``): pure rules, checked without threads or clocks."""

from __future__ import annotations

import pytest

from tts_service.policy import (
    GUESS_PHONEMES,
    MAX_RETRY_AFTER_S,
    PHONEMES_PER_SECOND,
    Bounds,
    Playback,
    Priority,
    Refusal,
    Work,
    admit,
    admits,
    audio_guess,
    chunk_phonemes,
    chunk_seconds,
    deadline,
    first_chunk_key,
    growth,
    hurries,
    overcommitment,
    retry_after,
    turn_chunk_is_first,
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


BOUNDS = Bounds(first_wait=1.0, gap=1.0, parallel=1)
"""A first chunk may wait 1 s; a listener 1 s for a later chunk; one inference at a time."""
REPLY = Work(first=0.5, later=2.0, next=0.5, buffered=0.0, load=0.4)
"""A conversational reply not started yet: 0.5 s for its first chunk, 2 s for the rest, on a
model 2.5x faster than real time."""
DONE = Work(first=0.0, later=0.0, next=0.0, buffered=5.0, load=0.4)
"""A stream whose text is all synthesized; its listener still has 5 s to hear."""


def decide(new: Work, open_works: list[Work], bounds: Bounds = BOUNDS, **limits: int):
    return admit(new, open_works, bounds, queued=limits.get("queued", 0),
                 max_streams=limits.get("max_streams", 16),
                 max_queued=limits.get("max_queued", 32))  # fmt: skip


def test_a_reply_is_admitted_on_an_idle_server() -> None:
    assert decide(REPLY, []).reason is None


def test_a_first_chunk_that_would_wait_past_the_bound_is_refused_below_the_stream_limit() -> None:
    """Regression: streams were admitted up to a count (16), whatever the work ahead; on two
    cores the 16th first chunk waited for 15 others (first audio 30 s after 0.5 s idle)."""
    assert decide(REPLY, [REPLY, REPLY]).reason is None  # the third waits 2 x 0.5 s: 1 s
    refused = decide(REPLY, [REPLY] * 3)
    assert refused.reason is Refusal.FIRST_AUDIO
    assert refused.retry_after >= 1


def test_streams_the_pool_cannot_keep_fed_are_refused_for_playback() -> None:
    """Started listeners with 1 s of audio left and long texts to go, each costing 0.4 s of the
    pool per second: two can be fed, a third would make every listener wait."""
    playing = Work(first=0.0, later=60.0, next=1.0, buffered=1.0, load=0.4)
    tiny = Work(first=0.05, later=10.0, next=0.1, buffered=0.0, load=0.4)
    assert decide(tiny, [playing]).reason is None
    assert decide(tiny, [playing, playing]).reason is Refusal.PLAYBACK


def test_streams_synthesized_to_their_end_cost_nothing_however_long_they_play() -> None:
    assert decide(REPLY, [DONE] * 15).reason is None


def test_a_long_form_reading_ahead_of_its_listener_leaves_room_for_a_reply() -> None:
    reading = Work(first=0.0, later=300.0, next=2.0, buffered=8.0, load=0.4)
    assert decide(REPLY, [reading]).reason is None


def test_overcommitment_is_the_largest_excess_of_work_due_over_what_the_pool_can_do() -> None:
    # Four first chunks of 0.5 s, each to start within 1 s: all done by 1.5 s is 0.5 s too much.
    firsts = [Work(first=0.5, later=0.0, next=0.0, buffered=0.0, load=0.4)] * 4
    assert overcommitment(firsts, BOUNDS) == pytest.approx(0.5)
    assert overcommitment(firsts, Bounds(1.0, 1.0, parallel=2)) == pytest.approx(-1.0)


def test_retry_after_is_when_the_pool_has_worked_through_the_excess() -> None:
    """Regression: Retry-After came from queued chunks alone (1 s while the admitted streams
    still had minutes of work); it is the excess of work ahead over what the pool can do."""
    firsts = [Work(first=0.5, later=0.0, next=0.0, buffered=0.0, load=0.4)] * 10
    refused = decide(firsts[0], firsts[:9])
    assert refused.retry_after == 4  # 5 s of first chunks due by 1.5 s: 3.5 s too much
    two = decide(firsts[0], firsts[:9], Bounds(1.0, 1.0, parallel=2))
    assert two.retry_after == 1  # 3 s of it done by then: 2 s too much, for two inferences


def test_at_the_stream_limit_retry_after_is_when_the_least_busy_stream_is_done() -> None:
    streams = [Work(first=0.0, later=t, next=0.0, buffered=30.0, load=0.01) for t in (3.0, 20.0)]
    refused = decide(DONE, streams, max_streams=2)
    assert refused.reason is Refusal.STREAMS
    assert refused.retry_after == 6  # both progress at half speed until the 3 s one is done
    assert decide(DONE, streams, max_streams=2, queued=32).reason is Refusal.STREAMS
    assert decide(DONE, [], queued=32).reason is Refusal.QUEUE


def test_a_stream_too_much_for_the_pool_alone_is_served_on_an_idle_server() -> None:
    """A text spoken as one piece (its first chunk longer than the wait allowed), or a model
    slower than real time at the request's speed: admitted when nothing else runs."""
    assert decide(Work(first=5.0, later=0.0, next=0.0, buffered=0.0, load=0.4), []).reason is None
    slow = Work(first=0.5, later=60.0, next=1.0, buffered=0.0, load=1.5)
    assert decide(slow, [DONE]).reason is None
    assert decide(slow, [REPLY]).reason is not None


def test_retry_after_is_at_least_a_second_and_at_most_a_minute() -> None:
    assert retry_after(0.0) == 1
    assert retry_after(1.2) == 2
    assert retry_after(1e6) == MAX_RETRY_AFTER_S


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


def test_a_turn_chunk_is_first_once_its_listener_is_or_soon_will_be_in_silence() -> None:
    assert not turn_chunk_is_first(Playback(None, 0, 0.0), 0, 10.0, 0.5)  # nothing played
    playing = Playback(start=100.0, delivered=2, delivered_seconds=3.0)
    assert not turn_chunk_is_first(playing, 2, 101.0, 0.5)  # 2 s left: time to spare
    assert turn_chunk_is_first(playing, 2, 102.5, 0.5)  # 0.5 s left: it would be late
    assert turn_chunk_is_first(playing, 2, 104.0, 0.1)  # silence already
    assert not turn_chunk_is_first(playing, 3, 104.0, 0.1)  # chunk 2 not delivered yet


def test_a_turn_hurries_only_when_its_audio_would_run_out_first() -> None:
    assert hurries(audio_left=0.5, synthesis_guess=0.4)
    assert hurries(audio_left=-1.0, synthesis_guess=0.1)  # already silent
    assert not hurries(audio_left=3.0, synthesis_guess=0.4)
