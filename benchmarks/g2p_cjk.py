"""misaki against espeak-ng on Mandarin and Japanese: the same sentences through both G2Ps and the
real model in-process (one sentence, one inference), interleaved sentence by sentence. Whisper
base (offline, from its PyPI parts) transcribes each, told the language; the character error
rate per G2P and language (punctuation and spaces left out), with what Whisper heard where the
two differ.

    python -m benchmarks.g2p_cjk --output docs/results/g2p-cjk.md [--limit 2]

The texts are ordinary sentences written as a Chinese or Japanese writer would (kanji and kana
for Japanese), without digits (Whisper writes numbers as digits or characters, as it likes):
``benchmarks/texts/g2p_cmn.txt`` and ``g2p_ja.txt``.
"""

from __future__ import annotations

import re
from pathlib import Path

import click
import numpy as np

from benchmarks.ear import edit_distance, load_whisper, resample_to_16k
from tts_service.assets import ensure_assets
from tts_service.backends.onnx import OnnxBackend
from tts_service.config import Settings
from tts_service.text.phonemes import Phonemizer
from tts_service.voices import VoiceStore

TEXTS = Path(__file__).parent / "texts"
LANGUAGES = {"cmn": ("zf_xiaobei", "zh"), "ja": ("jf_alpha", "ja")}
"""Language → (voice, Whisper's language)."""
PROMPTS = {"zh": "以下是普通话的句子。"}
"""Whisper's initial prompt, so that it writes simplified characters (not traditional)."""
G2PS = {"espeak": "espeak", "misaki": "auto"}
"""Label → ``TTS_G2P`` setting."""


def character_error_rate(reference: str, hypothesis: str) -> tuple[int, int]:
    """Edits from ``reference`` to ``hypothesis`` in characters (punctuation and spaces left
    out), and the reference's characters."""
    ref, hyp = (re.sub(r"[\W_]+", "", text) for text in (reference, hypothesis))
    return edit_distance(ref, hyp), len(ref)


@click.command()
@click.option("--limit", type=int, default=None, help="Only the first N sentences of each.")
@click.option("--output", type=click.Path(path_type=Path), default=None, help="Markdown table.")
def main(limit: int | None, output: Path | None) -> None:
    settings = Settings()
    files = ensure_assets(settings, fetch=False)
    backend = OnnxBackend.from_settings(settings, files)
    voices = VoiceStore.load(files.voices)
    phonemizers = {label: Phonemizer(choice) for label, choice in G2PS.items()}  # type: ignore[arg-type]
    whisper = load_whisper()
    rows, differ = [], []
    for lang, (voice, whisper_lang) in LANGUAGES.items():
        lines = (TEXTS / f"g2p_{lang}.txt").read_text(encoding="utf-8").splitlines()
        sentences = [line.strip() for line in lines if line.strip()][:limit]
        style_table = voices.resolve(voice)
        errors = dict.fromkeys(G2PS, 0)
        wrong = dict.fromkeys(G2PS, 0)
        characters = 0
        for n, text in enumerate(sentences, 1):
            heard: dict[str, tuple[str, float]] = {}
            for label, phonemizer in phonemizers.items():
                tokens = phonemizer.tokenize(phonemizer.phonemize(text, lang))
                audio = backend.synthesize(tokens, style_table.style_for(len(tokens)), 1.0)
                segments, _ = whisper.transcribe(
                    resample_to_16k(np.asarray(audio, dtype=np.float32), backend.sample_rate),
                    language=whisper_lang, beam_size=1, initial_prompt=PROMPTS.get(whisper_lang),
                )  # fmt: skip
                said = "".join(segment.text for segment in segments).strip()
                edits, length = character_error_rate(text, said)
                errors[label] += edits
                wrong[label] += edits > 0
                heard[label] = (said, edits / max(1, length))
            characters += length
            click.echo(f"{lang} {n}/{len(sentences)} " + " ".join(
                f"{label}={rate:.3f}" for label, (_, rate) in heard.items()
            ), err=True)  # fmt: skip
            if heard["espeak"][1] != heard["misaki"][1]:
                differ.append((lang, text, heard))
        for label in G2PS:
            rows.append(
                f"| {lang} | {voice} | {label} | {len(sentences)} | "
                f"{errors[label] / max(1, characters):.3f} | {wrong[label]} |"
            )
    lines = [
        "| language | voice | G2P | sentences | character error rate | sentences with an error |",
        "|---|---|---|---|---|---|",
        *rows,
        "",
        f"Sentences heard differently ({len(differ)}):",
        "",
        "| language | text | espeak heard (CER) | misaki heard (CER) |",
        "|---|---|---|---|",
    ]
    for lang, text, heard in differ:
        (e, e_rate), (m, m_rate) = heard["espeak"], heard["misaki"]
        lines.append(f"| {lang} | {text} | {e[:60]} ({e_rate:.2f}) | {m} ({m_rate:.2f}) |")
    report = "\n".join(lines)
    click.echo(report)
    if output:
        output.write_text(report + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
