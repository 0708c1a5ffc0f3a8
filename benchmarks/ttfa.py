"""Time-to-first-audio benchmark for any OpenAI-compatible ``/v1/audio/speech`` server.

    python -m benchmarks.ttfa single --url http://127.0.0.1:8880
    python -m benchmarks.ttfa load --url http://127.0.0.1:8880 --conversational 2 --long-form 1
    python -m benchmarks.ttfa cache --url http://127.0.0.1:8880

``single`` times each case alone (repeats, after warm-up), next to a baseline that asks the server
to synthesize the input as one piece (``split_sentences: false``; other servers ignore the field,
so there the baseline equals the normal mode). ``load`` runs conversational clients (a short
phrase, read it all, wait, repeat) while long-form clients stream the article. Both print a
Markdown table and write JSON, Markdown and PNG plots to ``--out``. ``cache`` times a short
phrase's first audio synthesized and then from the server's phrase cache.
"""

from __future__ import annotations

import random
import statistics
import threading
import time
from pathlib import Path
from typing import Any

import click
import httpx
from tqdm import tqdm

from benchmarks.measure import Measurement, measure, playback_stall
from benchmarks.report import (
    markdown,
    percentile,
    plot_load,
    plot_timelines,
    run_meta,
    summary_rows,
    write_json,
)

TEXTS = Path(__file__).parent / "texts"
SHORT = (
    "Hi Mediclinic.  Your EHR project sounds interesting and has the potential for a lot of impact."
)

OPENING = (
    "When the first lighthouse keepers climbed their towers each evening, long before electricity "
    "reached the coast, they carried oil, wicks and a pocket watch, because the light had to turn "
    "on time all night. Most ships never saw them. That was the point."
)
"""A reply whose first sentence is long: the server sends its first clause first."""
CASES = ("short", "opening", "long")


def _cases(names: tuple[str, ...], text_file: str | None) -> dict[str, str]:
    available = {"short": SHORT, "opening": OPENING, "long": (TEXTS / "article.txt").read_text()}
    cases = {name: available[name] for name in names}
    if text_file:
        cases[Path(text_file).stem] = Path(text_file).read_text()
    return cases


def _write(
    out: Path, name: str, measurements: list[Measurement], meta: dict[str, Any], title: str
) -> str:
    out.mkdir(parents=True, exist_ok=True)
    rows = summary_rows(measurements)
    context = f"Server {meta['url']}, client {meta['client_machine']}, {meta['when']}."
    table = markdown(rows, title, context)
    (out / f"{name}.md").write_text(table)
    write_json(out / f"{name}.json", measurements, meta)
    return table


common = [
    click.option(
        "--url", default="http://127.0.0.1:8880", show_default=True, help="Server base URL."
    ),
    click.option(
        "--api-key", envvar="TTS_BENCH_API_KEY", help="Bearer key, if the server needs one."
    ),
    click.option("--model", default="kokoro", show_default=True),
    click.option(
        "--out",
        type=click.Path(path_type=Path),
        default=Path("benchmark-results"),
        show_default=True,
    ),
    click.option("--timeout", default=900.0, show_default=True, help="Seconds per request."),
]


def _with_common(func):  # noqa: ANN001, ANN202 - click decorator plumbing
    for option in reversed(common):
        func = option(func)
    return func


@click.group()
def main() -> None:
    """Time-to-first-audio benchmark for OpenAI-compatible speech servers."""


@main.command()
@_with_common
@click.option("--case", "case_names", multiple=True, type=click.Choice(CASES),
              default=CASES, show_default=True)  # fmt: skip
@click.option("--text-file", type=click.Path(exists=True), help="Also time this text as a case.")
@click.option(
    "--format", "formats", multiple=True, default=("mp3", "pcm", "wav"), show_default=True
)
@click.option("--long-format", default="pcm", show_default=True, help="Format of long cases.")
@click.option("--voice", "voices", multiple=True, default=("af_heart",), show_default=True)
@click.option("--repeats", default=3, show_default=True, help="Timed runs per short setting.")
@click.option("--long-repeats", default=1, show_default=True, help="Timed runs per long setting.")
@click.option("--warmup", default=1, show_default=True, help="Untimed requests first.")
@click.option("--baseline/--no-baseline", default=True, show_default=True,
              help="Also time the whole input as one piece (split_sentences=false).")  # fmt: skip
@click.option("--non-streaming/--no-non-streaming", default=True, show_default=True,
              help="Also time stream=false for short cases.")  # fmt: skip
def single(
    url: str, api_key: str | None, model: str, out: Path, timeout: float,
    case_names: tuple[str, ...], text_file: str | None, formats: tuple[str, ...],
    long_format: str, voices: tuple[str, ...], repeats: int, long_repeats: int, warmup: int,
    baseline: bool, non_streaming: bool,
) -> None:  # fmt: skip
    """Time each case alone, with repeats, against a one-piece baseline."""
    cases = _cases(case_names, text_file)
    plan: list[tuple[str, str, dict[str, Any]]] = []
    for case, text in cases.items():
        short = len(text) < 1000
        for fmt in formats if short else (long_format,):
            for voice in voices:
                body = {"model": model, "input": text, "voice": voice, "response_format": fmt}
                modes = [("stream", body)]
                if baseline:
                    modes.append(("baseline", body | {"split_sentences": False}))
                if non_streaming and short:
                    modes.append(("stream", body | {"stream": False}))
                for mode, payload in modes:
                    plan += [(case, mode, payload)] * (repeats if short else long_repeats)

    measurements: list[Measurement] = []
    with httpx.Client(timeout=timeout) as client:
        for _ in range(warmup):
            measure(client, url, {"model": model, "input": "Warming up.", "voice": voices[0],
                                  "response_format": "pcm"}, case="warmup", mode="warmup",
                    api_key=api_key)  # fmt: skip
        for case, mode, payload in tqdm(plan, desc="requests", unit="req"):
            measurements.append(
                measure(client, url, payload, case=case, mode=mode, api_key=api_key)
            )

    meta = run_meta(url, command="single", repeats=repeats, long_repeats=long_repeats)
    click.echo(
        _write(out, "single", measurements, meta, "Time to first audio, one request at a time")
    )
    plot_timelines(out / "timeline.png", measurements, "Arrival of audio")
    _report_errors(measurements)
    click.echo(f"Wrote {out}/single.md, single.json, timeline.png")


PHRASES = ("Sure, ticket {n} is ready.", "One moment, order {n}.", "Thanks, room {n}.")
"""Short replies for ``cache``, each made new with a random number: the first request of each is
a miss (one the server counted as a hit is timed again with another number), the same request
again a hit."""


def _cache_hits(client: httpx.Client, url: str) -> float | None:
    """The server's ``tts_phrase_cache_hits_total`` (None: no such metric there)."""
    from prometheus_client.parser import text_string_to_metric_families

    response = client.get(f"{url}/metrics")
    if response.status_code != 200:
        return None
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            if sample.name == "tts_phrase_cache_hits_total":
                return float(sample.value)
    return None


@main.command()
@_with_common
@click.option("--repeats", default=6, show_default=True, help="Phrases, each a miss then a hit.")
@click.option("--voice", default="af_heart", show_default=True)
@click.option("--format", "fmt", default="pcm", show_default=True)
def cache(
    url: str, api_key: str | None, model: str, out: Path, timeout: float, repeats: int,
    voice: str, fmt: str,
) -> None:  # fmt: skip
    """Time a short phrase's first audio synthesized (miss) and again from the server's phrase
    cache (hit), one request at a time."""
    rng = random.Random()
    measurements: list[Measurement] = []
    with httpx.Client(timeout=timeout) as client:
        body = {"model": model, "voice": voice, "response_format": fmt}
        measure(client, url, body | {"input": "Warming up."}, case="warmup", mode="warmup",
                api_key=api_key)  # fmt: skip
        before = _cache_hits(client, url)
        for n in tqdm(range(repeats), desc="phrases", unit="phrase"):
            for _ in range(10):  # a number said before (an earlier run) is a hit: another one
                payload = body | {"input": PHRASES[n % len(PHRASES)].format(n=rng.randrange(1000))}
                hits = _cache_hits(client, url)
                miss = measure(client, url, payload, case="phrase", mode="miss", api_key=api_key)
                if hits is None or _cache_hits(client, url) == hits:
                    break
            measurements.append(miss)
            measurements.append(
                measure(client, url, payload, case="phrase", mode="hit", api_key=api_key)
            )
        after = _cache_hits(client, url)
    meta = run_meta(url, command="cache", repeats=repeats)
    click.echo(_write(out, "cache", measurements, meta, "First audio: phrase cache hit vs miss"))
    _report_errors(measurements)
    ttfa = {
        mode: statistics.median(m.ttfa for m in measurements if m.mode == mode)
        for mode in ("miss", "hit")
    }
    click.echo(
        f"Median first audio: miss {ttfa['miss'] * 1000:.1f} ms, hit {ttfa['hit'] * 1000:.1f} ms "
        f"({ttfa['hit'] / ttfa['miss']:.3f} of the miss's)"
    )
    if before is None or after is None or after - before < repeats:  # a miss that hit only adds
        click.echo("Warning: the server counted fewer cache hits than requests timed as hits "
                   "(is TTS_PHRASE_CACHE_BYTES 0, or is it another server?)")  # fmt: skip
    click.echo(f"Wrote {out}/cache.md, cache.json")


@main.command()
@_with_common
@click.option("--conversational", default=2, show_default=True, help="Short-phrase clients.")
@click.option("--long-form", default=1, show_default=True, help="Clients streaming the article.")
@click.option("--duration", default=120.0, show_default=True, help="Seconds to keep sending.")
@click.option("--pause", default=2.0, show_default=True, help="Conversational think time, s.")
@click.option(
    "--lead", default=5.0, show_default=True,
    help="Seconds the long-form stream plays before conversation starts.",
)  # fmt: skip
@click.option(
    "--idle-runs", default=3, show_default=True,
    help="Short phrases sent alone first: the idle TTFA the loaded one is compared with.",
)  # fmt: skip
@click.option("--voice", default="af_heart", show_default=True)
@click.option("--format", "fmt", default="pcm", show_default=True)
@click.option(
    "--text-file", type=click.Path(exists=True), help="Long-form text (default: article)."
)
def load(
    url: str, api_key: str | None, model: str, out: Path, timeout: float, conversational: int,
    long_form: int, duration: float, pause: float, lead: float, idle_runs: int, voice: str,
    fmt: str, text_file: str | None,
) -> None:  # fmt: skip
    """Conversational clients and long-form readers at once: TTFA per class, playback stalls."""
    article = Path(text_file).read_text() if text_file else (TEXTS / "article.txt").read_text()
    results: list[Measurement] = []
    lock = threading.Lock()
    progress = tqdm(desc="requests", unit="req")
    with httpx.Client(timeout=timeout) as client:
        for _ in range(idle_runs):
            body = {"model": model, "input": SHORT, "voice": voice, "response_format": fmt}
            results.append(measure(client, url, body, case="load", mode="idle", api_key=api_key))
            progress.update()
    deadline = time.monotonic() + duration

    def client_loop(mode: str, text: str, think: float) -> None:
        with httpx.Client(timeout=timeout) as client:
            while time.monotonic() < deadline:
                body = {"model": model, "input": text, "voice": voice, "response_format": fmt}
                m = measure(client, url, body, case="load", mode=mode, api_key=api_key)
                with lock:
                    results.append(m)
                    progress.update()
                if 400 <= m.status < 500 and m.status != 429:
                    return  # the server refuses this request as such: asking again is pointless
                time.sleep(think)

    threads = [threading.Thread(target=client_loop, args=("long-form", article, 0.0))
               for _ in range(long_form)]  # fmt: skip
    threads += [threading.Thread(target=client_loop, args=("conversational", SHORT, pause))
                for _ in range(conversational)]  # fmt: skip
    for n, t in enumerate(threads):
        t.start()
        if n == long_form - 1:
            time.sleep(lead)  # the long-form stream is already playing when conversation starts
    for t in threads:
        t.join()
    progress.close()

    meta = run_meta(url, command="load", conversational=conversational, long_form=long_form,
                 duration=duration, pause=pause)  # fmt: skip
    click.echo(_write(out, "load", results, meta, "Time to first audio under load"))
    idle = percentile([m.ttfa for m in results if m.mode == "idle" and not m.error], 50)
    for mode in ("idle", "conversational", "long-form"):
        ttfas = [m.ttfa for m in results if m.mode == mode and not m.error]
        stalls = [playback_stall(m) for m in results if m.mode == mode and not m.error]
        click.echo(f"{mode}: n={len(ttfas)} TTFA p50={percentile(ttfas, 50):.3f}s "
                   f"p95={percentile(ttfas, 95):.3f}s max={max(ttfas, default=float('nan')):.3f}s "
                   f"stall p50={percentile(stalls, 50):.2f}s "
                   f"max stall={max(stalls, default=float('nan')):.2f}s "
                   f"p95/idle={percentile(ttfas, 95) / idle:.2f}")  # fmt: skip
    plot_load(out / "load_ttfa.png", results, "TTFA under load")
    _report_errors(results)
    click.echo(f"Wrote {out}/load.md, load.json, load_ttfa.png")


def _report_errors(measurements: list[Measurement]) -> None:
    for m in measurements:
        if m.error:
            click.echo(f"error: {m.case}/{m.mode}/{m.fmt}: HTTP {m.status} {m.error}", err=True)


if __name__ == "__main__":
    main()
