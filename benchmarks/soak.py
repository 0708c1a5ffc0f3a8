"""Soak: minutes of mixed traffic against a running server, to show it stays healthy.

    python -m benchmarks.soak --url http://127.0.0.1:8880 --duration 180

``--clients`` threads each send, one after another with ``--think`` seconds between, a request
drawn from a fixed mix: short conversational replies in every format (some not streamed, some as
SSE), long-form reads, clients that hang up after the first audio, and bad requests. Every
reply is checked: audio must decode, a bad request must get a 4xx in OpenAI's shape. A 429 (the
server at capacity) is expected; anything else is an unexpected error. Once a second it scrapes
``/metrics`` for the server's resident memory, open files, streams and queued chunks. It writes
``soak.json``, ``soak.md`` and ``soak.png`` to ``--out`` and exits 1 if there was any unexpected
error or a stream was still open once the traffic had stopped.
"""

from __future__ import annotations

import base64
import json
import os
import random
import threading
import time
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import click
import httpx
from prometheus_client.parser import text_string_to_metric_families

from benchmarks.measure import measure
from benchmarks.report import percentile, pyplot, run_meta
from benchmarks.ttfa import SHORT, TEXTS

PHRASES = (
    SHORT,
    "Sure, I can help with that.",
    "The meeting is at three o'clock tomorrow. Shall I add it to your calendar?",
    "Here is what I found. The first result looks the most promising.",
)
FORMATS = ("mp3", "opus", "aac", "flac", "wav", "pcm")
BAD_BODIES: tuple[dict[str, Any], ...] = (
    {"input": ""},
    {"input": "Hello.", "voice": "no_such_voice"},
    {"input": "Hello.", "speed": 9},
    {"input": "x" * 5000},
    {"input": "Hello.", "response_format": "ogg"},
)
MIX = {"bad": 2, "hang_up": 2, "short": 10, "long": 1}
"""Relative weights of the kinds of request; client n starts with the n-th kind (so a short run
has each of them), then draws at random."""


@dataclass
class Outcome:
    kind: str
    started: float
    """Seconds since the soak began."""
    status: int
    result: str
    """ok, rejected (429), bad_request_refused (the 4xx a bad request should get), hung_up,
    or unexpected."""
    ttfa: float = float("nan")
    total: float = float("nan")
    audio_seconds: float = float("nan")
    detail: str = ""


@dataclass
class Sample:
    at: float
    rss_bytes: float
    open_fds: float
    active_streams: float
    queued_chunks: float


def scrape(client: httpx.Client, url: str) -> dict[str, float]:
    """Every sample of ``/metrics`` by name, with its labels as Prometheus writes them:
    ``tts_active_streams``, ``tts_rejected_requests_total{reason="voice_not_found"}``."""
    text = client.get(f"{url}/metrics", timeout=10).text
    figures = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            labels = ",".join(f'{key}="{value}"' for key, value in sorted(sample.labels.items()))
            figures[f"{sample.name}{{{labels}}}" if labels else sample.name] = sample.value
    return figures


def _speech(rng: random.Random, kind: str, model: str, long_text: str) -> dict[str, Any]:
    body: dict[str, Any] = {"model": model, "voice": "af_heart"}
    if kind == "short":
        body |= {"input": rng.choice(PHRASES), "response_format": rng.choice(FORMATS)}
        roll = rng.random()
        if roll < 0.15:
            body["stream"] = False
        elif roll < 0.3:
            body |= {"stream_format": "sse", "response_format": "pcm"}
    else:
        body |= {"input": long_text, "response_format": "pcm"}
    return body


def _sse_audio_seconds(data: bytes) -> float:
    pcm = 0
    for line in data.decode().splitlines():
        if line.startswith("data:") and '"speech.audio.delta"' in line:
            pcm += len(base64.b64decode(json.loads(line[5:])["audio"]))
        elif line.startswith("data:") and '"speech.audio.done"' in line:
            return pcm / 48_000
    raise ValueError("the event stream ended without speech.audio.done")


def one_request(
    client: httpx.Client, url: str, kind: str, rng: random.Random, model: str, long_text: str,
    began: float,
) -> Outcome:  # fmt: skip
    started = time.perf_counter() - began
    if kind == "bad":
        response = client.post(f"{url}/v1/audio/speech", json=rng.choice(BAD_BODIES))
        error = response.json().get("error", {}) if response.headers.get(
            "content-type", "").startswith("application/json") else {}  # fmt: skip
        shaped = {"message", "type", "param", "code"} <= set(error)
        ok = response.status_code in (400, 413) and shaped
        return Outcome(kind, started, response.status_code,
                       "bad_request_refused" if ok else "unexpected",
                       detail="" if ok else response.text[:200])  # fmt: skip
    body = _speech(rng, kind, model, long_text)
    if kind == "hang_up":
        with client.stream("POST", f"{url}/v1/audio/speech", json=body) as response:
            if response.status_code != 200:
                response.read()
                return _refused(kind, started, response.status_code, response.text)
            next(response.iter_raw(), None)
        return Outcome(kind, started, 200, "hung_up")
    if body.get("stream_format") == "sse":
        t0 = time.perf_counter()
        response = client.post(f"{url}/v1/audio/speech", json=body)
        if response.status_code != 200:
            return _refused(kind, started, response.status_code, response.text)
        try:
            seconds = _sse_audio_seconds(response.content)
        except ValueError as exc:
            return Outcome(kind, started, 200, "unexpected", detail=str(exc))
        return Outcome(kind, started, 200, "ok", total=time.perf_counter() - t0,
                       audio_seconds=seconds)  # fmt: skip
    m = measure(client, url, body, case=kind, mode="soak")
    if m.status not in (0, 200):  # 0: no reply at all (an unexpected error below)
        return _refused(kind, started, m.status, m.error or "")
    if m.error or not m.audio_seconds > 0.3:
        return Outcome(kind, started, m.status, "unexpected", detail=m.error or "no audio")
    return Outcome(kind, started, 200, "ok", ttfa=m.ttfa if m.stream else float("nan"),
                   total=m.total, audio_seconds=m.audio_seconds)  # fmt: skip


def _refused(kind: str, started: float, status: int, text: str) -> Outcome:
    result = "rejected" if status == 429 else "unexpected"
    return Outcome(kind, started, status, result, detail="" if status == 429 else text[:200])


def run(url: str, duration: float, clients: int, think: float, seed: int, model: str,
        long_text: str, timeout: float,
) -> tuple[list[Outcome], list[Sample], dict[str, float]]:  # fmt: skip
    outcomes: list[Outcome] = []
    samples: list[Sample] = []
    lock = threading.Lock()
    began = time.perf_counter()
    deadline = began + duration
    kinds, weights = zip(*MIX.items(), strict=True)

    def client_loop(n: int) -> None:
        rng = random.Random(seed + n)
        with httpx.Client(timeout=timeout) as client:
            kind = kinds[n % len(kinds)]
            while time.perf_counter() < deadline:
                try:
                    outcome = one_request(client, url, kind, rng, model, long_text, began)
                except httpx.HTTPError as exc:
                    outcome = Outcome(kind, time.perf_counter() - began, 0, "unexpected",
                                      detail=f"{type(exc).__name__}: {exc}")  # fmt: skip
                with lock:
                    outcomes.append(outcome)
                time.sleep(rng.uniform(0.5, 1.5) * think)
                kind = rng.choices(kinds, weights)[0]

    def sample(client: httpx.Client) -> None:
        figures = scrape(client, url)
        samples.append(Sample(
            time.perf_counter() - began, figures.get("process_resident_memory_bytes", 0.0),
            figures.get("process_open_fds", 0.0), figures.get("tts_active_streams", 0.0),
            figures.get("tts_queued_chunks", 0.0),
        ))  # fmt: skip

    threads = [threading.Thread(target=client_loop, args=(n,)) for n in range(clients)]
    with httpx.Client() as monitor:
        before = scrape(monitor, url)
        for thread in threads:
            thread.start()
        while any(thread.is_alive() for thread in threads):
            sample(monitor)
            time.sleep(1.0)
        # Traffic over: every stream must close (hung-up ones included) within a few seconds.
        settle_until = time.perf_counter() + 30
        sample(monitor)
        while samples[-1].active_streams and time.perf_counter() < settle_until:
            time.sleep(0.5)
            sample(monitor)
        after = scrape(monitor, url)
    counters = {name: after[name] - before.get(name, 0.0) for name in after
                if name.partition("{")[0].endswith("_total")}  # fmt: skip
    return outcomes, samples, counters


def summarize(outcomes: list[Outcome], samples: list[Sample], duration: float) -> dict[str, Any]:
    conversational = [o.ttfa for o in outcomes if o.kind == "short" and o.ttfa == o.ttfa]
    every_ttfa = [o.ttfa for o in outcomes if o.ttfa == o.ttfa]
    rss = [s.rss_bytes for s in samples]
    return {
        "duration_s": duration,
        "requests": len(outcomes),
        "by_kind": dict(Counter(o.kind for o in outcomes)),
        "by_result": dict(Counter(o.result for o in outcomes)),
        "unexpected": [asdict(o) for o in outcomes if o.result == "unexpected"],
        "ttfa_conversational_p50_s": percentile(conversational, 50),
        "ttfa_conversational_p95_s": percentile(conversational, 95),
        "ttfa_all_p50_s": percentile(every_ttfa, 50),
        "ttfa_all_p95_s": percentile(every_ttfa, 95),
        "audio_seconds": sum(o.audio_seconds for o in outcomes if o.result == "ok"),
        "rss_start_mb": rss[0] / 1e6 if rss else float("nan"),
        "rss_peak_mb": max(rss) / 1e6 if rss else float("nan"),
        "rss_end_mb": rss[-1] / 1e6 if rss else float("nan"),
        "open_fds_start": samples[0].open_fds if samples else float("nan"),
        "open_fds_end": samples[-1].open_fds if samples else float("nan"),
        "active_streams_end": samples[-1].active_streams if samples else float("nan"),
        "queued_chunks_end": samples[-1].queued_chunks if samples else float("nan"),
    }


def markdown(summary: dict[str, Any], counters: dict[str, float], meta: dict[str, Any]) -> str:
    s = summary
    results = ", ".join(f"{k} {v}" for k, v in sorted(s["by_result"].items()))
    kinds = ", ".join(f"{k} {v}" for k, v in sorted(s["by_kind"].items()))
    lines = [
        "## Soak", "",
        f"Server {meta['url']}, client {meta['client_machine']}, {meta['when']}: "
        f"{meta['clients']} clients for {s['duration_s']:.0f} s (`{meta['command']}`); "
        f"load average (1, 5, 15 min) before {_loads(meta['load_average_before'])}, after "
        f"{_loads(meta['load_average_after'])}.", "",
        "| figure | value |", "|---|---|",
        f"| requests | {s['requests']} ({kinds}) |",
        f"| results | {results} |",
        f"| unexpected errors | **{len(s['unexpected'])}** |",
        f"| TTFA conversational p50 / p95 | {s['ttfa_conversational_p50_s']:.2f} s / "
        f"**{s['ttfa_conversational_p95_s']:.2f} s** |",
        f"| TTFA all streamed p50 / p95 | {s['ttfa_all_p50_s']:.2f} s / "
        f"{s['ttfa_all_p95_s']:.2f} s |",
        f"| audio delivered | {s['audio_seconds']:.0f} s |",
        f"| server RSS start / peak / end | {s['rss_start_mb']:.0f} / "
        f"**{s['rss_peak_mb']:.0f}** / {s['rss_end_mb']:.0f} MB |",
        f"| open files start / end | {s['open_fds_start']:.0f} / {s['open_fds_end']:.0f} |",
        f"| streams / queued chunks after the run | {s['active_streams_end']:.0f} / "
        f"{s['queued_chunks_end']:.0f} |",
    ]  # fmt: skip
    lines += ["", "Server counters over the run (`/metrics`):", ""]
    lines += [f"- `{name}` +{value:.0f}" for name, value in sorted(counters.items()) if value]
    for o in s["unexpected"][:10]:
        lines.append(f"- unexpected: {o['kind']} HTTP {o['status']}: {o['detail']}")
    return "\n".join(lines) + "\n"


def _loads(loads: tuple[float, float, float]) -> str:
    return " / ".join(f"{value:.1f}" for value in loads)


def plot(path: Path, outcomes: list[Outcome], samples: list[Sample]) -> None:
    plt = pyplot()
    fig, (memory, streams, ttfa) = plt.subplots(3, 1, figsize=(9, 8), sharex=True)
    at = [s.at for s in samples]
    memory.plot(at, [s.rss_bytes / 1e6 for s in samples])
    memory.set_ylabel("server RSS, MB")
    memory.set_ylim(bottom=0)
    streams.step(at, [s.active_streams for s in samples], where="post", label="active streams")
    streams.step(at, [s.queued_chunks for s in samples], where="post", label="queued chunks")
    streams.legend(fontsize="small")
    for kind in MIX:
        points = [(o.started, o.ttfa) for o in outcomes if o.kind == kind and o.ttfa == o.ttfa]
        if points:
            ttfa.scatter(*zip(*points, strict=True), s=10, label=kind)
    ttfa.set_ylabel("TTFA, s")
    ttfa.set_xlabel("seconds since the soak began")
    ttfa.legend(fontsize="small")
    for ax in (memory, streams, ttfa):
        ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


@click.command()
@click.option("--url", default="http://127.0.0.1:8880", show_default=True)
@click.option("--duration", default=180.0, show_default=True, help="Seconds of traffic.")
@click.option("--clients", default=3, show_default=True, help="Concurrent clients.")
@click.option("--think", default=1.0, show_default=True, help="Mean pause between requests, s.")
@click.option("--seed", default=7, show_default=True)
@click.option("--model", default="kokoro", show_default=True)
@click.option("--long-chars", default=700, show_default=True,
              help="Long-form requests read this many characters of the article.")  # fmt: skip
@click.option("--timeout", default=300.0, show_default=True, help="Seconds per request.")
@click.option("--out", type=click.Path(path_type=Path), default=Path("benchmark-results"),
              show_default=True)  # fmt: skip
def main(url: str, duration: float, clients: int, think: float, seed: int, model: str,
         long_chars: int, timeout: float, out: Path) -> None:  # fmt: skip
    """Mixed traffic for DURATION seconds; errors, TTFA and server memory over time."""
    long_text = (TEXTS / "article.txt").read_text()[:long_chars]
    load_before = os.getloadavg()
    outcomes, samples, counters = run(
        url, duration, clients, think, seed, model, long_text, timeout
    )
    summary = summarize(outcomes, samples, duration)
    command = (f"python -m benchmarks.soak --url {url} --duration {duration:g} "
               f"--clients {clients} --think {think:g} --seed {seed} --long-chars {long_chars}")  # fmt: skip
    meta = run_meta(url, command=command, clients=clients, think=think, seed=seed,
                    load_average_before=load_before, load_average_after=os.getloadavg())  # fmt: skip
    out.mkdir(parents=True, exist_ok=True)
    table = markdown(summary, counters, meta)
    (out / "soak.md").write_text(table)
    (out / "soak.json").write_text(json.dumps(
        {"meta": meta, "summary": summary, "server_counters": counters,
         "requests": [asdict(o) for o in outcomes], "samples": [asdict(s) for s in samples]},
        indent=2, default=str,
    ))  # fmt: skip
    plot(out / "soak.png", outcomes, samples)
    click.echo(table)
    click.echo(f"Wrote {out}/soak.md, soak.json, soak.png")
    if summary["unexpected"] or summary["active_streams_end"]:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
