"""Streamed-input benchmark: speaking a reply while a language model is still writing it.

    python -m benchmarks.streamed_input --url http://127.0.0.1:8880 --wyoming-port 10200

A simulated model writes each reply of ``benchmarks/texts/replies.txt`` in tokens of about four
characters at 10, 30 and 100 tokens a second. Each reply at each rate is spoken every way, one
after another on the same server: our WebSocket (a ``text.delta`` per token), a ``POST
/v1/audio/speech`` per sentence one at a time (what voice-agent frameworks do) or all at once,
and with ``--wyoming-port`` Wyoming's streaming form against its whole-text ``synthesize``. Per
way: the first audio from the first token, its goal (the first chunk's text complete, plus 1.15 ×
the model's time for the first sentence, measured alone beforehand) and the playback gap (how long
a listener playing from the first byte waits). First on the idle server, then while
``--load-streams`` long HTTP streams play. Then barge-in: ``turn.clear`` once a long reply's audio
has started (``benchmarks.barge_in``). Prints one table per scenario; ``--output`` writes them, and
the runs as JSON beside them.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import click
import httpx
from tqdm import tqdm

from benchmarks.barge_in import LATE_FRAME_GOAL, Clear, clear
from benchmarks.measure import measure
from benchmarks.overload import wait_idle
from benchmarks.report import run_meta
from benchmarks.simulated_llm import REPLIES, replies, sentences, tokens
from benchmarks.streamed_clients import GOAL_FACTOR, Run, Speaker, model_time, per_sentence
from benchmarks.streamed_clients import websocket as websocket_mode
from benchmarks.ttfa import TEXTS
from benchmarks.wyoming_clients import NOT_SUPPORTED, supports_streaming, wyoming

MODES = {
    "websocket": "WebSocket, a delta per token",
    "sequential": "per sentence, one at a time",
    "concurrent": "per sentence, all at once",
    "wyoming-stream": "Wyoming, streaming form",
    "wyoming-whole": "Wyoming, whole text",
}
RATES = (10.0, 30.0, 100.0)


@contextmanager
def background_load(speaker: Speaker, streams: int, text: str) -> Iterator[None]:
    """``streams`` clients each streaming ``text`` over HTTP back to back until the block ends
    (then each finishes the stream it is reading)."""
    stop = threading.Event()

    def loop() -> None:
        with httpx.Client(timeout=speaker.timeout) as client:
            while not stop.is_set():
                m = measure(client, speaker.url, speaker.body(text), case="load",
                            mode="background", api_key=speaker.api_key)  # fmt: skip
                if m.status != 200:
                    stop.wait(1.0)  # refused (busy) or failed: not a tight loop of requests

    threads = [threading.Thread(target=loop, daemon=True) for _ in range(streams)]
    for thread in threads:
        thread.start()
    try:
        yield
    finally:
        stop.set()
        for thread in threads:
            thread.join()


async def _speak(
    mode: str, run: Run, speaker: Speaker, text: str, wyoming_at: tuple[str, int] | None,
    streaming_supported: bool,
) -> Run:  # fmt: skip
    pieces = tokens(text)
    if mode == "websocket":
        return await websocket_mode(run, speaker, pieces)
    if mode in ("sequential", "concurrent"):
        async with httpx.AsyncClient(timeout=speaker.timeout) as client:
            await client.get(f"{speaker.url}/health")  # connected before the first token
            return await per_sentence(run, speaker, pieces, client,
                                      concurrent=mode == "concurrent")  # fmt: skip
    assert wyoming_at is not None  # modes are checked against --wyoming-port in main
    return await wyoming(run, wyoming_at, speaker.voice, pieces, speaker.timeout,
                         streaming=mode == "wyoming-stream", supported=streaming_supported)  # fmt: skip


async def _model_times(speaker: Speaker, texts: list[str], runs: int) -> list[float]:
    """The median time of a whole pcm response for each reply's first sentence, on the idle
    server, after one untimed request."""
    async with httpx.AsyncClient(timeout=speaker.timeout) as client:
        await model_time(client, speaker, "Warming up.")
        return [
            statistics.median(
                [await model_time(client, speaker, next(sentences(text))) for _ in range(runs)]
            )  # fmt: skip
            for text in texts
        ]


def _cell(values: list[float], fmt: str = "{:.2f}") -> str:
    clean = [v for v in values if v == v]
    return fmt.format(statistics.median(clean)) if clean else "—"


def table(runs: list[Run], scenario: str) -> str:
    lines = [
        "| rate (tokens/s) | way | first audio s (median) | goal s (median) | goal met "
        "| playback gap s (sum over replies) | audio s | requests | refused (busy) | errors |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    rates = sorted({r.rate for r in runs})
    for rate in rates:
        for mode, label in MODES.items():
            group = [
                r for r in runs if r.scenario == scenario and r.rate == rate and r.mode == mode
            ]
            if not group:
                continue
            if all(r.status == NOT_SUPPORTED for r in group):
                lines.append(f"| {rate:g} | {label} | not supported by the server "
                             "| | | | | | | |")  # fmt: skip
                continue
            ok = [r for r in group if not r.error]
            met = sum(r.goal_met for r in ok)
            whole = [r for r in ok if not r.refused]  # a refused request leaves audio out
            gap = _cell([sum(r.gap for r in whole)]) if whole else "—"
            if whole and len(whole) < len(group):
                gap += f" ({len(whole)} of {len(group)} replies)"
            lines.append(
                f"| {rate:g} | {label} | {_cell([r.first_audio for r in ok])} "
                f"| {_cell([r.goal for r in ok])} | {met}/{len(group)} | {gap} "
                f"| {sum(r.audio_seconds for r in ok):.1f} | {sum(r.requests for r in group)} "
                f"| {sum(r.refused for r in group)} | {len(group) - len(ok)} |"
            )
    lines.append("")
    for rate in rates:
        lines.append(_gap_goal(runs, scenario, rate))
    return "\n".join(lines) + "\n"


def _gap_goal(runs: list[Run], scenario: str, rate: float) -> str:
    """The WebSocket's playback gap against half the one-at-a-time one's, over the replies both
    spoke whole (no error, nothing refused)."""
    whole = {
        mode: {r.reply: r.gap for r in runs if (r.scenario, r.rate, r.mode) == (scenario, rate, mode)
               and not r.error and not r.refused}
        for mode in ("websocket", "sequential")
    }  # fmt: skip
    replies = sorted(set(whole["websocket"]) & set(whole["sequential"]))
    if not replies:
        return f"- {rate:g} tokens/s: gaps not compared (no reply spoken whole both ways)"
    ws_gap = sum(whole["websocket"][n] for n in replies)
    seq_gap = sum(whole["sequential"][n] for n in replies)
    verdict = "met" if ws_gap <= seq_gap / 2 else "**not met**"
    counted = f"{len(replies)} {'reply' if len(replies) == 1 else 'replies'}"
    return (f"- {rate:g} tokens/s, {counted}: WebSocket gap {ws_gap:.2f} s, per "
            f"sentence one at a time {seq_gap:.2f} s; goal (at most half) {verdict}")  # fmt: skip


def clear_table(result: Clear) -> str:
    counters = ", ".join(f"`{k}` +{v:g}" for k, v in result.counters.items()) or "none moved"
    return "\n".join([
        "| figure | value |", "|---|---|",
        f"| first audio of the long reply (clear sent) | {result.first_audio:.2f} s |",
        f"| text written before the clear | {result.text_sent} characters |",
        f"| audio frames after the clear | {result.frames_after_clear} "
        f"({result.audio_after_clear:.2f} s of audio) |",
        f"| clear → last audio frame | {result.last_frame_after_clear * 1000:.0f} ms "
        f"(goal ≤ {LATE_FRAME_GOAL * 1000:.0f} ms: {'met' if result.goal_met else '**not met**'}) |",
        f"| clear → `turn.done` | {result.done_after_clear * 1000:.0f} ms "
        f"(status {result.status}, spoken until {result.spoken_until}) |",
        f"| counters over the cleared turn | {counters} |",
        f"| next turn on the connection | {result.next_status}, first audio "
        f"{result.next_first_audio:.2f} s, {result.next_audio_seconds:.1f} s of audio |",
        *([f"| error | {result.error} |"] if result.error else []),
    ]) + "\n"  # fmt: skip


@click.command()
@click.option("--url", default="http://127.0.0.1:8880", show_default=True, help="Server base URL.")
@click.option("--api-key", envvar="TTS_BENCH_API_KEY", help="Bearer key, if the server needs one.")
@click.option("--model", default="kokoro", show_default=True)
@click.option("--voice", default="af_heart", show_default=True)
@click.option("--rate", "rates", multiple=True, type=float, default=RATES, show_default=True,
              help="Tokens a second the simulated model writes.")  # fmt: skip
@click.option("--mode", "modes", multiple=True, type=click.Choice(list(MODES)),
              help="Ways to speak (default: all; the Wyoming ones need --wyoming-port).")  # fmt: skip
@click.option("--replies", "replies_file", type=click.Path(exists=True, path_type=Path),
              default=REPLIES, show_default=True, help="Replies, one per paragraph.")  # fmt: skip
@click.option("--scenario", "scenarios", multiple=True, type=click.Choice(["idle", "load"]),
              default=("idle", "load"), show_default=True)  # fmt: skip
@click.option("--load-streams", default=2, show_default=True,
              help="Concurrent long HTTP streams in the load scenario.")  # fmt: skip
@click.option("--load-chars", default=700, show_default=True,
              help="Each load stream reads this many characters of the article.")  # fmt: skip
@click.option("--model-runs", default=3, show_default=True,
              help="Timed requests for each reply's first sentence alone (median).")  # fmt: skip
@click.option("--clear/--no-clear", "barge_in", default=True, show_default=True,
              help="Also measure turn.clear on the WebSocket.")  # fmt: skip
@click.option("--wyoming-port", type=int, help="The server's Wyoming port (same host as --url).")
@click.option("--timeout", default=300.0, show_default=True, help="Seconds per reply.")
@click.option("--output", type=click.Path(path_type=Path),
              help="Write the tables here (Markdown) and the runs beside it (.json).")  # fmt: skip
def main(
    url: str, api_key: str | None, model: str, voice: str, rates: tuple[float, ...],
    modes: tuple[str, ...], replies_file: Path, scenarios: tuple[str, ...], load_streams: int,
    load_chars: int, model_runs: int, barge_in: bool, wyoming_port: int | None, timeout: float,
    output: Path | None,
) -> None:  # fmt: skip
    """A reply written token by token, spoken over the WebSocket, per sentence over HTTP and over
    Wyoming: first audio, its goal and playback gaps, idle and under load; then turn.clear."""
    wyoming_modes = {"wyoming-stream", "wyoming-whole"}
    if not modes:
        modes = tuple(m for m in MODES if wyoming_port or m not in wyoming_modes)
    if wyoming_modes & set(modes) and not wyoming_port:
        raise click.UsageError("the Wyoming modes need --wyoming-port")
    speaker = Speaker(url, api_key, model, voice, timeout)
    texts = replies(replies_file)
    wyoming_at = (urlparse(url).hostname or "127.0.0.1", wyoming_port) if wyoming_port else None
    streaming_supported = wyoming_at is not None and asyncio.run(
        supports_streaming(*wyoming_at, timeout)
    )
    model_times = asyncio.run(_model_times(speaker, texts, model_runs))
    load_text = (TEXTS / "article.txt").read_text()[:load_chars]
    runs: list[Run] = []
    progress = tqdm(total=len(scenarios) * len(rates) * len(texts) * len(modes), unit="reply")
    for scenario in scenarios:
        wait_idle(url)
        with background_load(speaker, load_streams if scenario == "load" else 0, load_text):
            for rate in rates:
                for index, text in enumerate(texts):
                    for mode in modes:
                        run = Run(scenario, mode, rate, index + 1, model_time=model_times[index])
                        runs.append(asyncio.run(
                            _speak(mode, run, speaker, text, wyoming_at, streaming_supported)
                        ))  # fmt: skip
                        progress.update()
    progress.close()
    barged = None
    if barge_in and "websocket" in modes:
        wait_idle(url)
        paragraphs = (TEXTS / "article.txt").read_text().split("\n\n")[1:3]
        long_reply = tokens(" ".join(" ".join(paragraphs).split()))
        barged = asyncio.run(clear(speaker, long_reply, texts[0], max(rates)))

    meta = run_meta(url, command="streamed_input", rates=list(rates), modes=list(modes),
                    load_streams=load_streams, load_chars=load_chars, goal_factor=GOAL_FACTOR,
                    model_times=model_times, wyoming_streaming_supported=streaming_supported)  # fmt: skip
    context = (f"Server {url}, client {meta['client_machine']}, {meta['when']}; "
               f"{len(texts)} replies; model's time for each first sentence alone: "
               + ", ".join(f"{t:.2f} s" for t in model_times) + ".")  # fmt: skip
    sections = [f"## Streamed input\n\n{context}\n"]
    for scenario in scenarios:
        title = "Idle" if scenario == "idle" else f"Under load ({load_streams} long HTTP streams)"
        sections.append(f"### {title}\n\n{table(runs, scenario)}")
    if barged:
        sections.append(f"### Barge-in (`turn.clear`)\n\n{clear_table(barged)}")
    report = "\n".join(sections)
    click.echo(report)
    for run in runs:
        if run.error:
            click.echo(f"error: {run.scenario}/{run.mode}/{run.rate:g}/{run.reply}: {run.error}",
                       err=True)  # fmt: skip
    if output:
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(report)
        data: dict[str, Any] = {"meta": meta, "runs": [r.summary() for r in runs],
                                "clear": barged.summary() if barged else None}  # fmt: skip
        output.with_suffix(".json").write_text(json.dumps(data, indent=2, default=str))
        click.echo(f"Wrote {output} and {output.with_suffix('.json')}")


if __name__ == "__main__":
    main()
