"""Pause and rate marks as the chunk planner reads them: a sentence's text cut into runs of speech
between them, and the bounds that keep what they ask for within what the service can give.

A pause mark ends the speech before it and puts that much silence after it; a rate mark says at
what factor of the request's speed the speech after it is spoken, until the next rate mark.
Say-as and pronounce marks stay in the runs of speech, for the normalizer and the phonemizer.
"""

from __future__ import annotations

from collections.abc import Iterator

from tts_service.text import marks

MAX_PAUSE = 10.0
"""The longest silence, in seconds, that pause marks may make in one place (a longer break, or
several breaks in a row, is cut to this)."""
MIN_RATE = 0.5
MAX_RATE = 2.0
"""The factors a rate mark may set (slower or faster than the request's speed)."""
MIN_SPEED = 0.25
MAX_SPEED = 4.0
"""The model's speed range (the request's ``speed`` bounds): a rate times the request's speed
is kept within it."""


def clamp_pause(seconds: float) -> float:
    return min(MAX_PAUSE, max(0.0, seconds))


def clamp_rate(factor: float) -> float:
    return min(MAX_RATE, max(MIN_RATE, factor))


def spoken_speed(speed: float, rate: float) -> float:
    """The speed a chunk is spoken at: the request's ``speed`` times its ``rate``, within the
    model's range."""
    return min(MAX_SPEED, max(MIN_SPEED, speed * rate))


def runs(text: str) -> Iterator[str | marks.Pause | marks.Rate]:
    """``text`` as runs of speech (say-as and pronounce marks kept in them) and the pause and
    rate marks between them, in order; empty runs left out."""
    if not marks.has_marks(text):
        yield text
        return
    run: list[str] = []
    for part in marks.parts(text):
        if isinstance(part, marks.Pause | marks.Rate):
            if run:
                yield "".join(run)
                run = []
            yield part
        elif isinstance(part, marks.SayAs):
            run.append(marks.say_as(part.kind, part.text))
        elif isinstance(part, marks.Pronounce):
            run.append(marks.pronounce(part.text, part.phonemes))
        else:
            run.append(part)
    if run:
        yield "".join(run)
