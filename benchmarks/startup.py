"""Start-up time and memory of our server: how long from launch to ready, and RSS.

    python -m benchmarks.startup                       # 3 starts of `tts-service serve`
    python -m benchmarks.startup --starts 5 --requests 5

Each start launches ``python -m tts_service serve`` on a free port (with the current ``TTS_*``
environment, so ``TTS_BACKEND`` or ``TTS_WARMUP`` can be compared), then polls it every 10 ms:

* **listening**: the port accepts connections (uvicorn is up; ``/health`` answers 503);
* **ready**: ``/health`` answers 200 (model loaded, warmed up);
* **RSS at ready**, then **RSS after requests**: the server's resident memory (``VmRSS`` from
  ``/proc``, so Linux only) after ``--requests`` short phrases, when onnxruntime's buffers have
  grown to their working size;
* **first request**: time to first audio of the first short phrase after ready.

The model files must already be in the cache (``tts-service fetch``): a start that fetches
measures the network. Writes ``startup.json`` and ``startup.md`` to ``--out``.
"""

from __future__ import annotations

import json
import os
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import click
import httpx
from tqdm import tqdm

from benchmarks.measure import free_port, measure, process_memory_mb
from benchmarks.report import run_meta
from benchmarks.ttfa import SHORT

POLL = 0.01
PHRASE = {"model": "kokoro", "input": SHORT, "voice": "af_heart", "response_format": "pcm"}


def _health(client: httpx.Client, url: str) -> int | None:
    try:
        return client.get(f"{url}/health", timeout=1.0).status_code
    except httpx.TransportError:
        return None


def one_start(requests: int, timeout: float, log: Path) -> dict[str, Any]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    command = [sys.executable, "-m", "tts_service", "serve", "--no-fetch", "--port", str(port)]
    with log.open("wb") as log_file, httpx.Client(timeout=timeout) as client:
        started = time.perf_counter()
        process = subprocess.Popen(command, stdout=log_file, stderr=subprocess.STDOUT)
        try:
            listening = None
            while (status := _health(client, url)) != 200:
                if listening is None and status is not None:
                    listening = time.perf_counter() - started
                if process.poll() is not None:
                    raise RuntimeError(f"the server exited with {process.returncode}; see {log}")
                if time.perf_counter() - started > timeout:
                    raise RuntimeError(f"not ready after {timeout:.0f}s; see {log}")
                time.sleep(POLL)
            ready = time.perf_counter() - started
            result = {
                "listening_s": listening if listening is not None else ready,
                "ready_s": ready,
                "rss_ready_mb": process_memory_mb(process.pid),
            }
            firsts = [
                measure(client, url, PHRASE, case="short", mode="after start")
                for _ in range(max(requests, 1))
            ]
            if errors := [m.error for m in firsts if m.error]:
                raise RuntimeError(f"request failed: {errors[0]}")
            result["first_request_ttfa_s"] = firsts[0].ttfa
            result["rss_after_requests_mb"] = process_memory_mb(process.pid)
            return result
        finally:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()


def markdown(runs: list[dict[str, Any]], meta: dict[str, Any]) -> str:
    keys = [
        ("listening_s", "listening (s)"), ("ready_s", "ready (s)"),
        ("rss_ready_mb", "RSS at ready (MB)"), ("first_request_ttfa_s", "first TTFA (s)"),
        ("rss_after_requests_mb", f"RSS after {meta['requests']} requests (MB)"),
    ]  # fmt: skip
    lines = [
        "## Start-up", "",
        f"{len(runs)} starts of `tts-service serve`, {meta['client_machine']}, {meta['when']}. "
        f"Settings from the environment: {meta['env'] or 'defaults'}.", "",
        "| measure | median | min | max |", "|---|---|---|---|",
    ]  # fmt: skip
    for key, label in keys:
        values = [run[key] for run in runs]
        lines.append(
            f"| {label} | {statistics.median(values):.2f} | {min(values):.2f} | {max(values):.2f} |"
        )
    return "\n".join(lines) + "\n"


@click.command()
@click.option("--starts", default=3, show_default=True, help="How many times to start the server.")
@click.option("--requests", default=3, show_default=True, help="Short phrases after each start.")
@click.option("--timeout", default=120.0, show_default=True, help="Seconds to wait for ready.")
@click.option("--out", type=click.Path(path_type=Path), default=Path("benchmark-results"))
def main(starts: int, requests: int, timeout: float, out: Path) -> None:
    """Start the server several times: seconds to ready, RSS at ready and after requests."""
    out.mkdir(parents=True, exist_ok=True)
    env = {key: value for key, value in sorted(os.environ.items()) if key.startswith("TTS_")}
    meta = run_meta("(started locally)", starts=starts, requests=requests, env=env)
    runs = [
        one_start(requests, timeout, out / f"startup-server-{i}.log")
        for i in tqdm(range(starts), desc="starts", unit="start")
    ]
    table = markdown(runs, meta)
    (out / "startup.json").write_text(json.dumps({"meta": meta, "runs": runs}, indent=2) + "\n")
    (out / "startup.md").write_text(table)
    click.echo(table)


if __name__ == "__main__":
    main()
