"""Overload benchmark: bursts of simultaneous conversational requests against a running server.

    python -m benchmarks.overload --url http://127.0.0.1:8880

First the reply is timed alone (the idle first audio), then for each client count (2, 4, 8, 16,
32 and 100 by default) it is timed alone once more (the reference for that burst: a shared
machine's speed drifts) and then that many clients send it at the same instant, streamed as pcm,
and read it to the end. Per burst: how many were served and refused (429), the first audio of the
served (p50, p95, and the slowest over the reply's alone just before) and the longest playback gap of an admitted
stream (how long its listener, playing in real time from the first byte, would wait for bytes at
worst), and the client machine's load average just after it (other work on a shared machine shows
there). Between bursts it waits for the server to be idle. Prints one Markdown table and writes
it with the raw measurements to ``--out``.
"""

from __future__ import annotations

import os
import statistics
import threading
import time
from pathlib import Path
from typing import Any

import click
import httpx

from benchmarks.measure import Measurement, longest_gap, measure
from benchmarks.report import percentile, run_meta, write_json

REPLY = (
    "Hi Mediclinic.  Your EHR project sounds interesting and has the potential for a lot of impact."
)
"""A conversational reply: a short sentence, then a long one (the benchmarks' short phrase)."""
LEVELS = (2, 4, 8, 16, 32, 100)


def _payload(model: str, voice: str, text: str) -> dict[str, Any]:
    return {"model": model, "input": text, "voice": voice, "response_format": "pcm"}


def wait_idle(url: str, timeout: float = 120.0) -> None:
    """Until the server sends no stream (its ``tts_active_streams`` gauge; other servers: 2 s)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            text = httpx.get(f"{url}/metrics", timeout=5).text
        except httpx.HTTPError:
            break
        active = [line for line in text.splitlines() if line.startswith("tts_active_streams ")]
        if not active or float(active[0].split()[1]) == 0:
            break
        time.sleep(0.2)
    time.sleep(2.0)


def _burst(url: str, clients: int, body: dict[str, Any], timeout: float, api_key: str | None):
    """``clients`` requests released at the same instant, each on its own connection."""
    barrier = threading.Barrier(clients)
    results: list[Measurement] = []
    lock = threading.Lock()

    def one() -> None:
        with httpx.Client(timeout=timeout) as client:
            client.get(f"{url}/health")  # connected before the burst
            barrier.wait()
            m = measure(client, url, body, case="burst", mode=str(clients), api_key=api_key)
        with lock:
            results.append(m)

    threads = [threading.Thread(target=one) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def _row(clients: int, results: list[Measurement], alone: Measurement) -> dict[str, Any]:
    served = [m for m in results if m.status == 200 and not m.error]
    refused = [m for m in results if m.status == 429]
    ttfa = [m.ttfa for m in served]
    return {
        "clients": clients, "served": len(served), "refused": len(refused),
        "other": len(results) - len(served) - len(refused),
        "ttfa_p50": percentile(ttfa, 50), "ttfa_p95": percentile(ttfa, 95),
        "alone_ttfa": alone.ttfa, "alone_gap": longest_gap(alone),
        "ttfa_max_over_alone": max(ttfa, default=float("nan")) / alone.ttfa,
        "longest_gap": max((longest_gap(m) for m in served), default=float("nan")),
        "refused_answer_max": max((m.total for m in refused), default=float("nan")),
        "load_average": os.getloadavg()[0],
    }  # fmt: skip


def _s(seconds: float) -> str:
    """Seconds for the table; a dash where there was nothing to time (no 429, no stream)."""
    return "—" if seconds != seconds else f"{seconds:.2f} s"  # NaN: nothing measured


def _table(rows: list[dict[str, Any]], idle: float, idle_gap: float) -> str:
    lines = [
        f"Alone: first audio {idle:.2f} s (median), longest playback gap {idle_gap:.2f} s",
        "",
        "| clients | alone just before: first audio, gap | served | refused (429) "
        "| first audio p50 | p95 | slowest / alone | longest playback gap | slowest 429 "
        "| load average |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        other = f" (+{r['other']} failed)" if r["other"] else ""
        lines.append(
            f"| {r['clients']} | {r['alone_ttfa']:.2f} s, {r['alone_gap']:.2f} s "
            f"| {r['served']}{other} | {r['refused']} | {r['ttfa_p50']:.2f} s "
            f"| {r['ttfa_p95']:.2f} s | {r['ttfa_max_over_alone']:.1f}x "
            f"| {_s(r['longest_gap'])} | {_s(r['refused_answer_max'])} "
            f"| {r['load_average']:.1f} |"
        )
    return "\n".join(lines) + "\n"


@click.command()
@click.option("--url", default="http://127.0.0.1:8880", show_default=True, help="Server base URL.")
@click.option("--api-key", envvar="TTS_BENCH_API_KEY", help="Bearer key, if the server needs one.")
@click.option("--model", default="kokoro", show_default=True)
@click.option("--voice", default="af_heart", show_default=True)
@click.option("--clients", "levels", multiple=True, type=int, default=LEVELS, show_default=True,
              help="Burst sizes, in order.")  # fmt: skip
@click.option("--idle-runs", default=5, show_default=True, help="Replies timed alone first.")
@click.option("--timeout", default=600.0, show_default=True, help="Seconds per request.")
@click.option("--out", type=click.Path(path_type=Path), default=Path("benchmark-results"),
              show_default=True)  # fmt: skip
def main(
    url: str, api_key: str | None, model: str, voice: str, levels: tuple[int, ...],
    idle_runs: int, timeout: float, out: Path,
) -> None:  # fmt: skip
    """Bursts of 2 to 100 simultaneous conversational requests: served, refused, first audio,
    playback gaps."""
    body = _payload(model, voice, REPLY)
    with httpx.Client(timeout=timeout) as client:
        measure(client, url, body, case="warmup", mode="warmup", api_key=api_key)
        idle_runs_ = [
            measure(client, url, body, case="idle", mode="idle", api_key=api_key)
            for _ in range(idle_runs)
        ]
    idle = statistics.median(m.ttfa for m in idle_runs_ if not m.error)
    idle_gap = max(longest_gap(m) for m in idle_runs_ if not m.error)
    rows, everything = [], list(idle_runs_)
    for clients in levels:
        wait_idle(url)
        with httpx.Client(timeout=timeout) as client:  # the reference on this machine right now
            alone = measure(client, url, body, case="alone", mode=str(clients), api_key=api_key)
        wait_idle(url)
        results = _burst(url, clients, body, timeout, api_key)
        everything += [alone, *results]
        rows.append(_row(clients, results, alone))
        click.echo(_table(rows[-1:], idle, idle_gap).splitlines()[-1], err=True)
    table = _table(rows, idle, idle_gap)
    meta = run_meta(url, command="overload", levels=list(levels), idle_ttfa=idle,
                    idle_longest_gap=idle_gap, rows=rows)  # fmt: skip
    out.mkdir(parents=True, exist_ok=True)
    (out / "overload.md").write_text(table)
    write_json(out / "overload.json", everything, meta)
    click.echo(table)
    click.echo(f"Wrote {out}/overload.md, overload.json")


if __name__ == "__main__":
    main()
