"""How long one chunk's audio may be, and what one chunk costs in memory: the figures behind
``TTS_MAX_CHUNK_SECONDS``, the per-replica memory figure and the shipped memory limits.

    python -m benchmarks.memory rate      # audio seconds per phoneme at speed 1, over the texts
    python -m benchmarks.memory arena     # onnxruntime's memory settings: speed, RSS after
    python -m benchmarks.memory growth    # peak memory per second of chunk audio

* **rate**: the model's audio length per phoneme character at speed 1 (edge silence included),
  over the benchmark texts cut into pieces of ``--sizes`` phonemes; the largest is what
  ``tts_service.policy.SECONDS_PER_PHONEME`` must be at least;
* **arena**: for each of onnxruntime's memory settings (``arena``: its default CPU arena, which
  keeps its peak, what the service uses; ``no-arena``: ``enable_cpu_mem_arena = False``;
  ``shrink``: the run option ``memory.enable_memory_arena_shrinkage``), in fresh processes taking
  turns: the time of a short and a 510-phoneme chunk, then the peak and the resident memory
  after a 510-phoneme chunk at speed 0.25, and the short chunk's time after it;
* **growth**: in a fresh process each (the service's memory setting), after one short chunk,
  one chunk of 510 phonemes at each ``--speeds``: its peak resident memory above the level
  before it, per second of its audio (the per-replica figure in docs/operations.md is built
  from the largest).

It uses the same settings (``TTS_*``, e.g. ``TTS_ONNX_THREADS``) and model files as the server.
Resident memory comes from ``/proc`` (Linux only).
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import click
import onnxruntime as ort
from kokoro_onnx.chunker import split_phonemes

from benchmarks.measure import process_memory_mb
from benchmarks.ttfa import OPENING, SHORT, TEXTS
from tts_service.assets import ensure_assets
from tts_service.backends.onnx import OnnxBackend
from tts_service.config import Settings
from tts_service.text.phonemes import MAX_TOKENS, Phonemizer
from tts_service.voices import VoiceStore

VOICE = "af_heart"
VARIANTS = ("arena", "no-arena", "shrink")
SHORT_PHONEMES = 40
"""A short chunk: a first sentence's worth."""


def _texts() -> list[str]:
    article = (TEXTS / "article.txt").read_text()
    return [SHORT, OPENING, *(p for p in article.split("\n\n") if p.strip())]


def _speaker(variant: str = "arena") -> tuple[OnnxBackend, Phonemizer, Any]:
    settings = Settings(warmup=False)
    files = ensure_assets(settings)
    options = ort.SessionOptions()
    options.intra_op_num_threads = settings.threads_per_inference
    options.enable_cpu_mem_arena = variant != "no-arena"
    backend = OnnxBackend.load(
        files.model, settings.models_dir, options, shrink_arena=variant == "shrink"
    )
    return backend, Phonemizer(), VoiceStore.load(files.voices).resolve(VOICE)


@click.group()
def main() -> None:
    """Audio per phoneme, onnxruntime's memory settings, and memory per second of audio."""


@main.command()
@click.option("--sizes", default="100,250,510", show_default=True, help="Piece sizes, phonemes.")
@click.option("--chars", default=4000, show_default=True, help="Characters of text per size.")
def rate(sizes: str, chars: int) -> None:
    """Audio seconds per phoneme at speed 1 over the texts, cut into pieces of each size; then
    the bound ``edge + rate × phonemes`` that holds for every piece, with ``rate`` the largest
    of the pieces of 200 phonemes or more."""
    backend, phonemizer, voice = _speaker()
    phonemes = [phonemizer.phonemize(" ".join(text.split()), voice.lang) for text in _texts()]
    spoken: dict[int, list[tuple[int, float]]] = {}  # size: (phonemes, audio seconds) per piece
    for size in map(int, sizes.split(",")):
        left = chars
        for piece in (piece for text in phonemes for piece in split_phonemes(text, size)):
            if left <= 0:
                break
            tokens = phonemizer.tokenize(piece)
            audio = backend.synthesize(tokens, voice.style_for(len(tokens)), 1.0)
            spoken.setdefault(size, []).append((len(piece), len(audio) / backend.sample_rate))
            left -= len(piece)
    print("| piece size (phonemes) | pieces | median s/phoneme | largest s/phoneme |")
    print("|---|---|---|---|")
    for size, pieces in spoken.items():
        rates = [seconds / length for length, seconds in pieces]
        print(f"| {size} | {len(rates)} | {statistics.median(rates):.4f} | {max(rates):.4f} |")
    every = [piece for pieces in spoken.values() for piece in pieces]
    largest = max((s / n for n, s in every if n >= 200), default=max(s / n for n, s in every))
    edge = max(seconds - largest * length for length, seconds in every)
    print(f"\nEvery piece: at most {edge:.2f} s + {largest:.4f} s per phoneme.")


def _probe(variant: str, jobs: list[tuple[int, float]]) -> list[dict[str, float]]:
    """Run ``jobs`` (phonemes, speed) in a fresh process with the ``variant`` memory setting."""
    command = [sys.executable, "-m", "benchmarks.memory", "probe", variant, json.dumps(jobs)]
    done = subprocess.run(command, capture_output=True, text=True, check=True)
    return json.loads(done.stdout.splitlines()[-1])  # type: ignore[no-any-return]


@main.command(hidden=True)
@click.argument("variant", type=click.Choice(VARIANTS))
@click.argument("jobs")
def probe(variant: str, jobs: str) -> None:
    """One fresh process: each job's time, audio, and resident memory before, after and peak."""
    backend, phonemizer, voice = _speaker(variant)
    text = phonemizer.phonemize(" ".join(_texts()[2:4]), voice.lang)
    results = []
    for size, speed in json.loads(jobs):
        tokens = phonemizer.tokenize(split_phonemes(text, size)[0])
        Path("/proc/self/clear_refs").write_text("5")  # the peak (VmHWM) starts from here
        before = process_memory_mb(os.getpid())
        started = time.perf_counter()
        audio = backend.synthesize(tokens, voice.style_for(len(tokens)), speed)
        results.append({
            "phonemes": len(tokens), "speed": speed, "seconds": time.perf_counter() - started,
            "audio_s": len(audio) / backend.sample_rate, "rss_before_mb": before,
            "rss_after_mb": process_memory_mb(os.getpid()),
            "peak_mb": process_memory_mb(os.getpid(), "VmHWM"),
        })  # fmt: skip
    print(json.dumps(results))


@main.command()
@click.option("--rounds", default=2, show_default=True, help="Fresh processes per setting.")
@click.option("--slow-speed", default=0.25, show_default=True, help="Speed of the large chunk.")
def arena(rounds: int, slow_speed: float) -> None:
    """Each memory setting: short and long chunk times, then memory after a large chunk."""
    short, long = (SHORT_PHONEMES, 1.0), (MAX_TOKENS, 1.0)
    jobs = [short, short, short, long, long, (MAX_TOKENS, slow_speed), short, short]
    runs: dict[str, list[list[dict[str, float]]]] = {variant: [] for variant in VARIANTS}
    for _ in range(rounds):
        for variant in VARIANTS:  # taking turns: the machine's speed drifts
            runs[variant].append(_probe(variant, jobs))
    print(
        "| setting | short chunk (s) | 510-phoneme chunk (s) | peak (MB) | RSS after the large "
        "chunk (MB) | short chunk after it (s) |"
    )
    print("|---|---|---|---|---|---|")
    for variant, results in runs.items():

        def median(index: int, key: str, results: list[list[dict[str, float]]] = results) -> float:
            return statistics.median(run[index][key] for run in results)

        short_s = statistics.median(run[i]["seconds"] for run in results for i in (1, 2))
        print(
            f"| {variant} | {short_s:.2f} | {median(4, 'seconds'):.2f} | {median(5, 'peak_mb'):.0f}"
            f" | {median(5, 'rss_after_mb'):.0f} | {median(7, 'seconds'):.2f} |"
        )


@main.command()
@click.option("--speeds", default="1,0.5,0.25", show_default=True)
def growth(speeds: str) -> None:
    """Peak resident memory above the level before a 510-phoneme chunk, per second of audio."""
    print("| speed | audio (s) | before (MB) | peak (MB) | growth (MB) | MB per audio second |")
    print("|---|---|---|---|---|---|")
    for speed in map(float, speeds.split(",")):
        _, job = _probe("arena", [(SHORT_PHONEMES, 1.0), (MAX_TOKENS, speed)])
        grown = job["peak_mb"] - job["rss_before_mb"]
        print(
            f"| {speed} | {job['audio_s']:.1f} | {job['rss_before_mb']:.0f} | "
            f"{job['peak_mb']:.0f} | {grown:.0f} | {grown / job['audio_s']:.1f} |"
        )


if __name__ == "__main__":
    main()
