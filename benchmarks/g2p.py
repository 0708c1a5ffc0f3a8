"""misaki against espeak-ng on English: the same sentences through both G2Ps and the real model
in-process (one sentence, one inference), interleaved sentence by sentence so a busy machine
slows both alike. Whisper base (offline, from its PyPI parts) transcribes each; the word error
rate per G2P, and the G2P's time per sentence against the model's.

    python -m benchmarks.g2p --output docs/results/g2p.md [--limit 3] [--voice af_heart]

Numbers are left out of the word error rate on both sides (Whisper writes them as digits or as
words, as it likes); the words around them count.
"""

from __future__ import annotations

import json
import os
import re
import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path

import click
import numpy as np

from benchmarks.ear import load_whisper, resample_to_16k, word_error_rate
from benchmarks.measure import process_memory_mb
from tts_service.assets import ensure_assets
from tts_service.backends.onnx import OnnxBackend
from tts_service.config import Settings
from tts_service.text.phonemes import Phonemizer
from tts_service.voices import VoiceStore

TEXTS = Path(__file__).parent / "texts" / "g2p.txt"
HETERONYMS = Path(__file__).parent / "texts" / "g2p_heteronyms.tsv"
"""Sentences of ``g2p.txt`` and a pattern their phonemes match when each heteronym is read right
(Whisper writes a heteronym the same either way, so the word error rate cannot tell)."""
G2PS = {"espeak": "espeak", "misaki": "auto"}
"""Label → ``TTS_G2P`` setting."""


@dataclass
class Tally:
    errors: float = 0.0
    words: int = 0
    wrong_sentences: int = 0
    g2p_seconds: list[float] = field(default_factory=list)
    model_seconds: list[float] = field(default_factory=list)

    def row(self, label: str, load_s: float, rss_mb: float) -> str:
        g2p, model = sum(self.g2p_seconds), sum(self.model_seconds)
        return (
            f"| {label} | {self.errors / max(1, self.words):.3f} | {self.wrong_sentences} | "
            f"{statistics.median(self.g2p_seconds) * 1000:.1f} | "
            f"{statistics.median(self.model_seconds) * 1000:.0f} | {100 * g2p / model:.1f} % | "
            f"{load_s:.2f} | {rss_mb:.0f} |"
        )


@click.command()
@click.option("--voice", default="af_heart", show_default=True)
@click.option("--limit", type=int, default=None, help="Only the first N sentences.")
@click.option("--texts", type=click.Path(path_type=Path, exists=True), default=TEXTS)
@click.option("--output", type=click.Path(path_type=Path), default=None, help="Markdown table.")
@click.option("--json-out", type=click.Path(path_type=Path), default=None, help="Per sentence.")
def main(
    voice: str, limit: int | None, texts: Path, output: Path | None, json_out: Path | None
) -> None:
    sentences = [line.strip() for line in texts.read_text().splitlines() if line.strip()]
    sentences = sentences[:limit] if limit else sentences
    settings = Settings()
    files = ensure_assets(settings, fetch=False)
    backend = OnnxBackend.from_settings(settings, files)
    style_table = VoiceStore.load(files.voices).resolve(voice)
    lang = style_table.lang
    # Where torch is installed (the test extra), spaCy's plugins import it on load; a CPU install
    # has none. Imported first, so the G2P's load time and memory leave it out.
    torch_mb = _import_torch()
    phonemizers: dict[str, Phonemizer] = {}
    load_s: dict[str, float] = {}
    rss_mb: dict[str, float] = {}
    for label, choice in G2PS.items():
        before = process_memory_mb(os.getpid())
        started = time.perf_counter()
        phonemizers[label] = Phonemizer(choice)  # type: ignore[arg-type]
        phonemizers[label].prepare(lang)
        phonemizers[label].phonemize("Ready.", lang)
        load_s[label] = time.perf_counter() - started
        rss_mb[label] = process_memory_mb(os.getpid()) - before
    whisper = load_whisper()
    tallies = {label: Tally() for label in G2PS}
    expected = _heteronyms(HETERONYMS)
    right = dict.fromkeys(G2PS, 0)
    per_sentence = []
    for n, text in enumerate(sentences, 1):
        record: dict[str, object] = {"text": text}
        for label, phonemizer in phonemizers.items():
            tally = tallies[label]
            started = time.perf_counter()
            phonemes = phonemizer.phonemize(text, lang)
            tally.g2p_seconds.append(time.perf_counter() - started)
            tokens = phonemizer.tokenize(phonemes)
            started = time.perf_counter()
            audio = backend.synthesize(tokens, style_table.style_for(len(tokens)), 1.0)
            tally.model_seconds.append(time.perf_counter() - started)
            segments, _ = whisper.transcribe(
                resample_to_16k(np.asarray(audio, dtype=np.float32), backend.sample_rate),
                language="en", beam_size=1,
            )  # fmt: skip
            heard = " ".join(segment.text for segment in segments).strip()
            wer, words = word_error_rate(text, heard)
            tally.errors += wer * words
            tally.words += words
            tally.wrong_sentences += wer > 0
            record[label] = {"phonemes": phonemes, "heard": heard, "wer": round(wer, 3)}
            if text in expected:
                record[label]["heteronyms_right"] = ok = bool(expected[text].search(phonemes))  # type: ignore[index]
                right[label] += ok
        per_sentence.append(record)
        click.echo(f"{n}/{len(sentences)} " + " ".join(
            f"{label}={record[label]['wer']}" for label in G2PS  # type: ignore[index]
        ), err=True)  # fmt: skip
    table = [
        f"{len(sentences)} English sentences ({texts.name}), voice {voice}, int8 ONNX model, "
        "Whisper base (beam 1)."
        + (
            f" torch was imported first ({torch_mb:.0f} MB), not counted in the G2P's load."
            if torch_mb
            else ""
        ),
        "",
        "| G2P | word error rate | sentences with an error | G2P ms / sentence (median) | "
        "model ms / sentence (median) | G2P time / model time | load s | RSS MB |",
        "|---|---|---|---|---|---|---|---|",
        *(tallies[label].row(label, load_s[label], rss_mb[label]) for label in G2PS),
    ]
    checked = sum(text in expected for text in sentences)
    table += [
        "",
        f"Heteronyms read right (of the {checked} sentences in {HETERONYMS.name} among these): "
        + ", ".join(f"{label} {right[label]}" for label in G2PS)
        + ".",
    ]
    differ = [
        r for r in per_sentence
        if r["espeak"]["wer"] != r["misaki"]["wer"]  # type: ignore[index]
    ]  # fmt: skip
    lines = [*table, "", f"Sentences heard differently ({len(differ)}):", ""]
    lines += ["| text | espeak heard (WER) | misaki heard (WER) |", "|---|---|---|"]
    for r in differ:
        e, m = r["espeak"], r["misaki"]
        lines.append(f"| {r['text']} | {e['heard']} ({e['wer']}) | {m['heard']} ({m['wer']}) |")  # type: ignore[index]
    report = "\n".join(lines)
    click.echo(report)
    if output:
        output.write_text(report + "\n")
    if json_out:
        json_out.write_text(json.dumps(per_sentence, ensure_ascii=False, indent=1))


def _heteronyms(path: Path) -> dict[str, re.Pattern[str]]:
    """Sentence → the pattern its phonemes match when its heteronyms are read right (in the
    file, ``'`` stands for an optional stress mark)."""
    rows = (line.split("\t") for line in path.read_text().splitlines() if line and line[0] != "#")
    return {text: re.compile(pattern.strip().replace("'", "[ˈˌ]?")) for text, pattern in rows}


def _import_torch() -> float:
    import importlib.util

    if importlib.util.find_spec("torch") is None:
        return 0.0
    before = process_memory_mb(os.getpid())
    import torch  # noqa: F401

    return process_memory_mb(os.getpid()) - before


if __name__ == "__main__":
    main()
