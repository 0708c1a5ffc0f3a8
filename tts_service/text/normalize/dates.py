"""English dates and clock times: "Jan. 5th, 2024" → "January fifth twenty twenty-four",
"3/15/2024" (month first in American English, day first in British), "3:30 pm" → "three thirty
PM", "15:45" → "fifteen forty-five"."""

from __future__ import annotations

import datetime
import re

from tts_service.text.normalize import numerals

MONTHS = [
    "January", "February", "March", "April", "May", "June",
    "July", "August", "September", "October", "November", "December",
]  # fmt: skip
MONTH = (
    r"(?P<month>Jan(?:uary)?|Feb(?:ruary)?|Mar(?:ch)?|Apr(?:il)?|May|June?|July?|"
    r"Aug(?:ust)?|Sep(?:t(?:ember)?)?|Oct(?:ober)?|Nov(?:ember)?|Dec(?:ember)?)\.?"
)


def _time(match: re.Match[str]) -> str | None:
    hour, minute = int(match["hour"]), int(match["minute"] or 0)
    if hour > 23 or minute > 59 or (match["ampm"] and not 1 <= hour <= 12):
        return None
    said = [numerals.cardinal(str(hour), "en")]
    if minute:
        said.append(("oh " if minute < 10 else "") + numerals.cardinal(str(minute), "en"))
    elif not match["ampm"] and match["minute"]:
        said.append("o'clock" if hour <= 12 else "hundred")
    if match["second"] and int(match["second"]) < 60:
        said.append(f"and {numerals.cardinal(str(int(match['second'])), 'en')} seconds")
    if match["ampm"]:
        said.append(match["ampm"].upper() + "M")
    return " ".join(said)


def _month(name: str) -> str:
    return next(m for m in MONTHS if m.startswith(name.rstrip(".")[:3].title()))


def _date_words(year: int | None, month: int, day: int, *, american: bool) -> str:
    name = MONTHS[month - 1]
    said = (
        f"{name} {numerals.ordinal(str(day), 'en')}"
        if american
        else f"the {numerals.ordinal(str(day), 'en')} of {name}"
    )
    if year is not None:
        said += f" {numerals.year(str(year), 'en', american=american)}"
    return said


def _valid(year: int, month: int, day: int) -> bool:
    try:
        datetime.date(year, month, day)
    except ValueError:
        return False
    return True


def numeric_date(match: re.Match[str], *, american: bool) -> str | None:
    if match["iso"]:
        year, month, day = int(match["y"]), int(match["m"]), int(match["d"])
    else:
        first, second, year = int(match["a"]), int(match["b"]), int(match["year"])
        year += 2000 if len(match["year"]) == 2 else 0
        month, day = (first, second) if american else (second, first)
    if not _valid(year, month, day):
        return None
    return _date_words(year, month, day, american=american)


def named_date(match: re.Match[str], *, american: bool) -> str | None:
    """January 5th, Jan. 5, 2024 and 5 January 2024 (said the British way)."""
    day = int(match["day"])
    if not 1 <= day <= 31:
        return None
    month = MONTHS.index(_month(match["month"])) + 1
    year = int(match["year"]) if match["year"] else None
    return _date_words(year, month, day, american=american)


def clock(match: re.Match[str]) -> str | None:
    if match["minute"] is None and match["ampm2"] is None:
        return None
    if match["ampm2"]:  # 3 pm
        hour = int(match["hour"])
        return (
            f"{numerals.cardinal(str(hour), 'en')} {match['ampm2'].upper()}M"
            if 1 <= hour <= 12
            else None
        )
    return _time(match)
