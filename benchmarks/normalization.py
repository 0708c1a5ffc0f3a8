"""Text normalization heard by an independent ear: each case of ``tests/data/normalization.tsv``
is spoken by a running server twice, normalization on and off, transcribed by offline Whisper base
in its language, and scored by word error rate against the words a listener should hear, per
category (accents are set aside on both sides: the comparison is of words, not spellings).

Whisper writes what it hears the way people write ("$12.50", "3:30 p.m."), so its transcript is
put through the same normalizer before it is compared with the expected words: a case scores 0
when Whisper heard what the expected words say, however it chose to write it.

    python -m benchmarks.normalization --url http://127.0.0.1:8880 [--limit 3] [--output FILE]
"""

from __future__ import annotations

import argparse
import csv
import time
import unicodedata
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import httpx

from benchmarks.ear import resample_to_16k, whisper_base
from tests.helpers import decode, word_error_rate, words
from tts_service.text.normalize import normalize

TABLE = Path(__file__).parents[1] / "tests" / "data" / "normalization.tsv"
VOICES = {
    "en-us": ("af_heart", "en"),
    "en-gb": ("bf_emma", "en"),
    "es": ("ef_dora", "es"),
    "fr-fr": ("ff_siwis", "fr"),
    "it": ("if_sara", "it"),
    "pt-br": ("pf_dora", "pt"),
}
"""The languages scored here: the voice that speaks each and Whisper's code for it."""


@dataclass(frozen=True)
class Case:
    category: str
    lang: str
    written: str
    spoken: str


@dataclass(frozen=True)
class Heard:
    case: Case
    normalized: bool
    transcript: str
    errors: float
    """Word errors (substitutions, insertions, deletions) against the expected words."""


def cases(limit: int | None = None, categories: list[str] | None = None) -> list[Case]:
    with TABLE.open(encoding="utf-8") as table:
        rows = [Case(**row) for row in csv.DictReader(table, delimiter="\t")]
    chosen = [
        case for case in rows
        if case.lang in VOICES and (not categories or case.category in categories)
    ]  # fmt: skip
    return chosen[:limit] if limit else chosen


def hear(client: httpx.Client, whisper: object, case: Case, *, normalized: bool) -> Heard:
    voice, language = VOICES[case.lang]
    body = {
        "model": "kokoro", "input": case.written, "voice": voice,
        "response_format": "pcm", "normalize": normalized,
    }  # fmt: skip
    response = client.post("/v1/audio/speech", json=body)
    response.raise_for_status()
    audio = decode(response.content, "pcm")
    segments, _ = whisper.transcribe(  # type: ignore[attr-defined]
        resample_to_16k(audio.samples, audio.sample_rate), language=language, beam_size=1
    )
    transcript = " ".join(segment.text for segment in segments).strip()
    said = _plain(normalize(transcript, case.lang).spoken)
    expected = _plain(case.spoken)
    errors = word_error_rate(expected, said) * len(words(expected))
    return Heard(case, normalized, transcript, errors)


def _plain(text: str) -> str:
    """``text`` without accents ("céntimos" → "centimos"), so that ``words`` keeps every word."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def table(results: list[Heard]) -> str:
    """Word error rate per category, normalization on and off side by side."""
    totals: dict[tuple[str, bool], list[float]] = defaultdict(lambda: [0.0, 0.0])
    counts: dict[str, int] = defaultdict(int)
    for heard in results:
        size = len(words(_plain(heard.case.spoken)))
        for key in ((heard.case.category, heard.normalized), ("all", heard.normalized)):
            totals[key][0] += heard.errors
            totals[key][1] += size
        if heard.normalized:
            counts[heard.case.category] += 1
            counts["all"] += 1
    lines = ["| category | cases | WER, normalize on | WER, normalize off |", "|---|---|---|---|"]
    for category in [*sorted(c for c in counts if c != "all"), "all"]:
        rates = [totals[(category, on)][0] / max(1.0, totals[(category, on)][1]) for on in (1, 0)]
        lines.append(f"| {category} | {counts[category]} | {rates[0]:.3f} | {rates[1]:.3f} |")
    return "\n".join(lines)


def misheard(results: list[Heard]) -> str:
    """The cases Whisper did not hear as expected with normalization on."""
    lines = ["| written | expected | Whisper heard |", "|---|---|---|"]
    for heard in results:
        if heard.normalized and heard.errors:
            case = heard.case
            lines.append(f"| {case.written} | {case.spoken} | {heard.transcript} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", default="http://127.0.0.1:8880")
    parser.add_argument("--limit", type=int, default=None, help="only the first N cases")
    parser.add_argument(
        "--category", action="append", default=None, help="only this category's cases (repeatable)"
    )
    parser.add_argument("--output", type=Path, default=None, help="also write the tables here")
    args = parser.parse_args(argv)

    from faster_whisper import WhisperModel

    whisper = WhisperModel(str(whisper_base()), device="cpu", compute_type="int8", cpu_threads=2)
    started = time.perf_counter()
    results = []
    with httpx.Client(base_url=args.url, timeout=120) as client:
        for case in cases(args.limit, args.category):
            for normalized in (True, False):
                results.append(hear(client, whisper, case, normalized=normalized))
    report = (
        f"{len(results) // 2} cases, {time.perf_counter() - started:.0f} s\n\n"
        f"{table(results)}\n\nMisheard with normalization on:\n\n{misheard(results)}\n"
    )
    print(report)
    if args.output:
        args.output.write_text(report, encoding="utf-8")


if __name__ == "__main__":
    main()
