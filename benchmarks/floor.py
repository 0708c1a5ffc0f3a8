"""The model's own floor, measured in-process without HTTP: what the server's numbers are compared with.

    python -m benchmarks.floor                    # the short phrase's first sentence, the article
    python -m benchmarks.floor --text-file my.txt --repeats 5

* **first chunk**: the model's time for the first sentence of the short phrase alone (the same
  chunk the server sends first), which the server's TTFA is compared with;
* **opening**: a reply whose first sentence is long (the benchmark's ``opening`` case): the
  model's time for the first chunk the server cuts from it (its first clause) and for the whole
  first sentence, which is what the first audio would wait for without the cut;
* **back to back**: the long text synthesized in the largest pieces the service makes (at speed
  1: up to about 490 phonemes, as the baseline mode does), one after another with nothing else running, which the server's
  long-form characters per second are compared with.

It uses the same settings (``TTS_*``, e.g. ``TTS_ONNX_THREADS``) and model files as the server.
"""

from __future__ import annotations

import json
import statistics
import time
from pathlib import Path

import click
from tqdm import tqdm

from benchmarks.ttfa import OPENING, SHORT, TEXTS
from tts_service.assets import ensure_assets
from tts_service.backends import load_backend
from tts_service.config import Settings
from tts_service.loading import warm_up
from tts_service.synthesis import Synthesizer
from tts_service.text.phonemes import Phonemizer
from tts_service.voices import VoiceStore


@click.command()
@click.option("--text-file", type=click.Path(exists=True), help="Long text (default: article).")
@click.option("--voice", default="af_heart", show_default=True)
@click.option("--repeats", default=5, show_default=True, help="Runs of the first chunk.")
@click.option("--out", type=click.Path(path_type=Path), default=Path("benchmark-results"))
def main(text_file: str | None, voice: str, repeats: int, out: Path) -> None:
    """Time the model alone: first chunk of the short phrase, and a long text back to back."""
    settings = Settings(warmup=False)
    files = ensure_assets(settings)
    backend = load_backend(settings, files)
    phonemizer = Phonemizer()
    # Chunks as whole-chunk synthesis plans them: a long first sentence's first clause (with
    # windows the first sentence is not cut).
    synthesizer = Synthesizer(backend, phonemizer, settings.model_copy(update={"windows": False}))
    chosen = VoiceStore.load(files.voices).resolve(voice)
    text = Path(text_file).read_text() if text_file else (TEXTS / "article.txt").read_text()
    try:
        warm_up(backend, phonemizer, chosen)

        def timed(phonemes: str) -> dict[str, float]:
            tokens = phonemizer.tokenize(phonemes)
            style = chosen.style_for(len(tokens))
            times = []
            for _ in range(repeats):
                started = time.perf_counter()
                backend.synthesize(tokens, style, 1.0)
                times.append(time.perf_counter() - started)
            return {"median": statistics.median(times), "min": min(times), "max": max(times)}

        first_sentence = SHORT.split(".")[0] + "."
        first = timed(phonemizer.phonemize(first_sentence, chosen.lang))
        # The opening's first chunk as the server cuts it, against its whole first sentence.
        opening_sentence = OPENING.split(". ")[0] + "."
        opening_whole = timed(phonemizer.phonemize(opening_sentence, chosen.lang))
        opening_chunk = next(synthesizer.plan(OPENING, chosen, timestamps=True))
        opening_first = timed(opening_chunk.phonemes)
        opening_text = " ".join(word.text for word in opening_chunk.words)  # a cut has no text

        # Phonemized up front: only inference is timed.
        chunks = list(synthesizer.plan(text, chosen, split=False))
        audio_seconds = 0.0
        started = time.perf_counter()
        for chunk in tqdm(chunks, desc="back to back", unit="chunk"):
            chunk_tokens = phonemizer.tokenize(chunk.phonemes)
            audio = backend.synthesize(chunk_tokens, chosen.style_for(len(chunk_tokens)), 1.0)
            audio_seconds += audio.size / backend.sample_rate
        elapsed = time.perf_counter() - started
    finally:
        synthesizer.shutdown()

    result = {
        "threads_per_inference": settings.threads_per_inference,
        "first_chunk_text": first_sentence,
        "first_chunk_seconds": first,
        "opening": {
            "first_sentence": opening_sentence, "first_sentence_seconds": opening_whole,
            "first_chunk": opening_text, "first_chunk_seconds": opening_first,
        },
        "back_to_back": {
            "chars": len(text), "chunks": len(chunks), "seconds": elapsed,
            "audio_seconds": audio_seconds, "chars_per_second": len(text) / elapsed,
            "audio_seconds_per_second": audio_seconds / elapsed,
        },
    }  # fmt: skip
    out.mkdir(parents=True, exist_ok=True)
    (out / "floor.json").write_text(json.dumps(result, indent=2))
    click.echo(
        f"first chunk {first_sentence!r}: {_spread(first)}, "
        f"{settings.threads_per_inference} thread(s)\n"
        f"opening: first chunk {opening_text!r}: {_spread(opening_first)}; "
        f"whole first sentence: {_spread(opening_whole)}\n"
        f"back to back: {len(text)} chars in {len(chunks)} chunks, {elapsed:.1f}s, "
        f"{len(text) / elapsed:.1f} chars/s, {audio_seconds / elapsed:.2f} audio s per s\n"
        f"Wrote {out}/floor.json"
    )


def _spread(times: dict[str, float]) -> str:
    return f"median {times['median']:.3f}s (min {times['min']:.3f}, max {times['max']:.3f})"


if __name__ == "__main__":
    main()
