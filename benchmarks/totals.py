"""Totals: how long a client that waits for the whole reply waits, and where that time goes.

    python -m benchmarks.totals compare      # servers side by side: totals and characters/s
    python -m benchmarks.totals breakdown    # in process: each stage's time, per plan
    python -m benchmarks.totals windows      # in process: render time per frame by window size

* **compare** starts this service (``tts-service serve``, defaults) and the batching reference
  server (``benchmarks.reference_server``: kokoro-onnx's ``create_stream``, up to 510 phonemes a
  batch) on free ports, and times in rounds, one request at a time, for the README's two-sentence
  phrase: our streaming, ``stream: false`` (pcm) and a whole wav file (``stream: false``), the
  reference server's answer, and the bare model's one-piece time for the whole phrase (in this
  process, while the servers idle); then the article's first ``--article-chars`` characters,
  streamed by both, as characters per second.
* **breakdown** runs a reply's chunks one after another in this process, as a server's worker
  would, and sums each stage: planning (phonemization), the model, trimming, fades and
  loudness, encoding. Against the server's total this shows what the look-ahead and the waits
  add or save.
* **windows** prepares one long chunk and renders it in windows of several sizes (the backend's
  ``render``, context included): seconds per frame by window size, against rendering it whole.
"""

from __future__ import annotations

import os
import signal
import statistics
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import click
import httpx

from benchmarks.measure import Measurement, free_port, measure
from benchmarks.ttfa import SHORT, TEXTS

ARTICLE_CHARS = 2537
"""The article's first characters read in the long-form comparison (as in docs/performance.md)."""
PHRASE_MODES = {
    "streaming": {"response_format": "pcm"},
    "stream: false": {"response_format": "pcm", "stream": False},
    "whole wav file": {"response_format": "wav", "stream": False},
}


def _article(chars: int) -> str:
    return (TEXTS / "article.txt").read_text()[:chars]


@contextmanager
def _server(command: list[str], health: str, env: dict[str, str]) -> Iterator[str]:
    """A server started with ``command`` and ``--port``; yields its URL once ``health`` answers."""
    port = free_port()
    process = subprocess.Popen([*command, "--port", str(port)], env={**os.environ, **env})
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise click.ClickException(f"{command} exited with {process.returncode}")
            try:
                if httpx.get(f"{url}{health}", timeout=2).status_code < 500:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.5)
        yield url
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()


def _loaded(voice_name: str) -> tuple[Any, Any, Any, Any]:
    """(synthesizer, backend, phonemizer, voice) with the server's settings, warmed up."""
    from tts_service.assets import ensure_assets
    from tts_service.backends import load_backend
    from tts_service.config import Settings
    from tts_service.loading import warm_up
    from tts_service.synthesis import Synthesizer
    from tts_service.text.phonemes import Phonemizer
    from tts_service.voices import VoiceStore

    settings = Settings(warmup=False)
    files = ensure_assets(settings)
    backend = load_backend(settings, files)
    phonemizer = Phonemizer()
    voice = VoiceStore.load(files.voices).resolve(voice_name)
    warm_up(backend, phonemizer, voice)
    return Synthesizer(backend, phonemizer, settings), backend, phonemizer, voice


def _one_piece(backend: Any, phonemizer: Any, voice: Any, text: str) -> Callable[[], float]:
    """A timer of the bare model speaking ``text`` as one piece (phonemized once, beforehand)."""
    tokens = phonemizer.tokenize(phonemizer.phonemize(text, voice.lang))
    style = voice.style_for(len(tokens))

    def timed() -> float:
        started = time.perf_counter()
        backend.synthesize(tokens, style, 1.0)
        return time.perf_counter() - started

    return timed


@click.group()
def main() -> None:
    """Totals for clients that wait for the whole reply; long-form throughput."""


def _median(values: list[float]) -> str:
    if not values:
        return "n/a"
    return f"{statistics.median(values):.2f} s ({min(values):.2f}–{max(values):.2f})"


@main.command()
@click.option("--rounds", default=5, show_default=True, help="Rounds of the phrase's requests.")
@click.option("--article-rounds", default=2, show_default=True, help="Rounds of the article.")
@click.option("--article-chars", default=ARTICLE_CHARS, show_default=True)
@click.option("--voice", default="af_heart", show_default=True)
@click.option("--env", "env", multiple=True, help="KEY=VALUE for this service, e.g. TTS_*.")
def compare(
    rounds: int, article_rounds: int, article_chars: int, voice: str, env: tuple[str, ...]
) -> None:
    """This service and the reference server side by side, with the bare model's time."""
    _, backend, phonemizer, chosen = _loaded(voice)
    one_piece = _one_piece(backend, phonemizer, chosen, " ".join(SHORT.split()))
    article = _article(article_chars)
    # Rounds repeat their texts: the phrase cache is off, so each round times a synthesis.
    quiet = {
        "TTS_LOG_LEVEL": "warning", "TTS_MAX_INPUT_CHARS": str(max(4096, article_chars)),
        "TTS_PHRASE_CACHE_BYTES": "0",
    }  # fmt: skip
    ours_cmd = [sys.executable, "-m", "tts_service", "serve"]
    reference_cmd = [sys.executable, "-m", "benchmarks.reference_server"]
    times: dict[str, list[float]] = defaultdict(list)
    ttfas: dict[str, list[float]] = defaultdict(list)
    rates: dict[str, list[float]] = defaultdict(list)
    with (
        _server(ours_cmd, "/health", quiet | dict(e.split("=", 1) for e in env)) as ours,
        _server(reference_cmd, "/docs", quiet) as reference,
        httpx.Client(timeout=900) as client,
    ):

        def timed(url: str, label: str, body: dict[str, Any]) -> Measurement:
            payload = {"model": "kokoro", "voice": voice} | body
            m = measure(client, url, payload, case=label, mode=label)
            if m.error:
                raise click.ClickException(f"{label}: HTTP {m.status} {m.error}")
            return m

        for url in (ours, reference):  # warm-up, untimed
            timed(url, "warm-up", {"input": "Warming up.", "response_format": "pcm"})
        phrase = [(ours, f"ours, {mode}", body) for mode, body in PHRASE_MODES.items()]
        phrase.append((reference, "reference server", {"response_format": "pcm"}))
        for _ in range(rounds):
            for url, label, body in phrase:
                m = timed(url, label, {"input": SHORT, **body})
                times[label].append(m.total)
                ttfas[label].append(m.ttfa)
            times["bare model, one piece"].append(one_piece())
        for _ in range(article_rounds):
            for url, label in ((ours, "ours, streaming"), (reference, "reference server")):
                m = timed(url, label, {"input": article, "response_format": "pcm"})
                rates[label].append(m.chars_per_second)
    model = statistics.median(times["bare model, one piece"])
    click.echo(f"\nThe phrase ({len(SHORT)} characters), {rounds} rounds, one request at a time:\n")
    click.echo("| request | first audio | total, median (min–max) | total / model's one piece |")
    click.echo("|---|---|---|---|")
    for label, values in times.items():
        ratio = statistics.median(values) / model
        ttfa = _median(ttfas[label]) if label in ttfas else "–"
        click.echo(f"| {label} | {ttfa} | {_median(values)} | {ratio:.2f}× |")
    click.echo(f"\nThe article's first {len(article)} characters, {article_rounds} rounds:\n")
    click.echo("| server | characters per second (each round) |")
    click.echo("|---|---|")
    for label, values in rates.items():
        click.echo(f"| {label} | {', '.join(f'{v:.1f}' for v in values)} |")


@main.command()
@click.option("--voice", default="af_heart", show_default=True)
@click.option("--article-chars", default=ARTICLE_CHARS, show_default=True, help="0: no article.")
@click.option("--format", "fmt", default="mp3", show_default=True, help="Encoder timed.")
@click.option("--repeats", default=5, show_default=True, help="Runs of the phrase per plan.")
def breakdown(voice: str, article_chars: int, fmt: str, repeats: int) -> None:
    """Each stage's seconds for a reply's chunks run one after another, by plan (the mean of
    ``repeats`` runs, the plans in turn; the article once, and only with ``--article-chars``)."""
    from tts_service.audio import create_encoder
    from tts_service.audio.fades import fade_edges
    from tts_service.audio.loudness import integrated_loudness
    from tts_service.pipeline import speech_bounds

    synthesizer, backend, phonemizer, chosen = _loaded(voice)
    rate = backend.sample_rate
    plans = {
        "streaming plan": {},
        "whole-reply plan": {"listening": False},
        "one piece (split_sentences: false)": {"split": False},
    }

    def run(text: str, options: dict[str, Any], stages: dict[str, float]) -> list[int]:
        sizes: list[int] = []
        chunks = synthesizer.plan(text, chosen, **options)
        encoder = create_encoder(fmt, rate)
        while True:
            with _stage(stages, "planning"):
                chunk = next(chunks, None)
            if chunk is None:
                break
            sizes.append(len(chunk.phonemes))
            with _stage(stages, "model"):
                tokens = phonemizer.tokenize(chunk.phonemes)
                audio = backend.synthesize(tokens, chosen.style_for(len(tokens)), 1.0)
            with _stage(stages, "trim"):
                start, end = speech_bounds(audio, rate)
            with _stage(stages, "fades"):
                audio = fade_edges(audio[start:end], rate)
                integrated_loudness(audio, rate)
            with _stage(stages, "encoding"):
                encoder.encode(audio)
        with _stage(stages, "encoding"):
            encoder.finish()
        return sizes

    click.echo("| text | plan | chunks (phonemes) | planning | model | trim | fades, loudness | "
               f"{fmt} encoding | all |")  # fmt: skip
    click.echo("|---|---|---|---|---|---|---|---|---|")
    texts = [("phrase", SHORT, repeats)]
    if article_chars:
        texts.append(("article", _article(article_chars), 1))
    for name, text, runs in texts:
        stages: dict[str, dict[str, float]] = {label: defaultdict(float) for label in plans}
        sizes: dict[str, list[int]] = {}
        for _ in range(runs):
            for label, options in plans.items():
                sizes[label] = run(text, options, stages[label])
        for label in plans:
            mean = {stage: seconds / runs for stage, seconds in stages[label].items()}
            cells = [f"{mean[k]:.2f} s" for k in ("planning", "model", "trim", "fades")]
            click.echo(
                f"| {name} | {label} | {len(sizes[label])} ({', '.join(map(str, sizes[label]))})"
                f" | {' | '.join(cells)} | {mean['encoding']:.2f} s | {sum(mean.values()):.2f} s |"
            )


@contextmanager
def _stage(stages: dict[str, float], name: str) -> Iterator[None]:
    started = time.perf_counter()
    yield
    stages[name] += time.perf_counter() - started


@main.command()
@click.option("--voice", default="af_heart", show_default=True)
@click.option("--sizes", default="25,50,100,200,400", show_default=True, help="Window frames.")
@click.option("--repeats", default=3, show_default=True)
def windows(voice: str, sizes: str, repeats: int) -> None:
    """Render one long chunk whole and in windows of each size: seconds per frame."""
    synthesizer, backend, phonemizer, chosen = _loaded(voice)
    plan = synthesizer.plan(_article(4000), chosen, listening=False)
    chunk = max(plan, key=lambda c: len(c.phonemes))  # (no shutdown: it stops the backend)
    tokens = phonemizer.tokenize(chunk.phonemes)
    style = chosen.style_for(len(tokens))
    prepared = backend.prepare(tokens, style, 1.0)
    frames = prepared.frames
    click.echo(f"A chunk of {len(tokens)} tokens, {frames} frames ({backend.name}, "
               f"windowed: {backend.windowed}):\n")  # fmt: skip
    click.echo("| window (frames) | windows | render time, median of "
               f"{repeats} | per frame | against whole |")  # fmt: skip
    click.echo("|---|---|---|---|---|")

    def render(size: int) -> float:
        started = time.perf_counter()
        for start in range(0, frames, size):
            backend.render(prepared, start, min(frames, start + size))
        return time.perf_counter() - started

    chosen_sizes = [frames, *sorted({int(s) for s in sizes.split(",") if int(s) < frames})[::-1]]
    seconds: dict[int, list[float]] = defaultdict(list)
    for _ in range(repeats):  # sizes in turn, so the machine's drift touches them all alike
        for size in chosen_sizes:
            seconds[size].append(render(size))
    whole = statistics.median(seconds[frames])
    for size in chosen_sizes:
        median = statistics.median(seconds[size])
        click.echo(
            f"| {size} | {-(-frames // size)} | {median:.3f} s | "
            f"{1000 * median / frames:.2f} ms | {median / whole:.2f}× |"
        )
    started = time.perf_counter()
    backend.prepare(tokens, style, 1.0)
    click.echo(f"\nText stage (prepare): {time.perf_counter() - started:.3f} s.")


if __name__ == "__main__":
    main()
