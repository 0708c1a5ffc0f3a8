"""Summaries of measurements: Markdown tables, JSON, and PNG plots (matplotlib, headless)."""

from __future__ import annotations

import datetime
import json
import os
import platform
import statistics
from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from benchmarks.measure import Measurement, playback_stall


def run_meta(url: str, **extra: Any) -> dict[str, Any]:
    """Where and when a benchmark ran, for its results files."""
    return {
        "url": url, "when": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "client_machine": f"{platform.machine()}, {platform.processor() or 'cpu'}, "
        f"{os.cpu_count() or 0} cores, {platform.system()} {platform.release()}",
        **extra,
    }  # fmt: skip


def _stats(values: Iterable[float]) -> tuple[float, float, float]:
    clean = [v for v in values if v == v]  # drop NaN
    if not clean:
        return (float("nan"),) * 3  # type: ignore[return-value]
    return statistics.median(clean), min(clean), max(clean)


def percentile(values: list[float], q: float) -> float:
    clean = sorted(v for v in values if v == v)
    if not clean:
        return float("nan")
    index = min(len(clean) - 1, max(0, round(q / 100 * (len(clean) - 1))))
    return clean[index]


def group(
    measurements: Iterable[Measurement],
) -> dict[tuple[str, str, str, str, bool], list[Measurement]]:
    groups: dict[tuple[str, str, str, str, bool], list[Measurement]] = defaultdict(list)
    for m in measurements:
        groups[(m.case, m.mode, m.fmt, m.voice, m.stream)].append(m)
    return groups


def summary_rows(measurements: list[Measurement]) -> list[dict[str, Any]]:
    rows = []
    for (case, mode, fmt, voice, stream), runs in group(measurements).items():
        ok = [m for m in runs if not m.error]
        ttfa, ttfa_min, ttfa_max = _stats(m.ttfa for m in ok)
        rows.append({
            "case": case, "mode": mode, "format": fmt, "voice": voice, "stream": stream,
            "runs": len(runs), "errors": len(runs) - len(ok),
            "ttfa_median": ttfa, "ttfa_min": ttfa_min, "ttfa_max": ttfa_max,
            "ttfa_p95": percentile([m.ttfa for m in ok], 95),
            "total_median": _stats(m.total for m in ok)[0],
            "chars_per_second": _stats(m.chars_per_second for m in ok)[0],
            "real_time_factor": _stats(m.real_time_factor for m in ok)[0],
            "audio_seconds": _stats(m.audio_seconds for m in ok)[0],
            "max_stall": max((playback_stall(m) for m in ok), default=float("nan")),
        })  # fmt: skip
    return rows


def markdown(rows: list[dict[str, Any]], title: str, context: str) -> str:
    lines = [
        f"## {title}", "", context, "",
        "| case | mode | format | voice | stream | runs | TTFA median (min–max) s | TTFA p95 s "
        "| total s | chars/s | audio s / wall s | max playback stall s | errors |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]  # fmt: skip
    for r in rows:
        lines.append(
            f"| {r['case']} | {r['mode']} | {r['format']} | {r['voice']} | {r['stream']} "
            f"| {r['runs']} | {r['ttfa_median']:.3f} ({r['ttfa_min']:.3f}–{r['ttfa_max']:.3f}) "
            f"| {r['ttfa_p95']:.3f} | {r['total_median']:.2f} | {r['chars_per_second']:.1f} "
            f"| {r['real_time_factor']:.2f} | {r['max_stall']:.2f} | {r['errors']} |"
        )
    return "\n".join(lines) + "\n"


def write_json(path: Path, measurements: list[Measurement], meta: dict[str, Any]) -> None:
    data = {
        "meta": meta,
        "summary": summary_rows(measurements),
        "runs": [m.summary() | {"arrivals": m.arrivals, "max_stall": playback_stall(m)}
                 for m in measurements],
    }  # fmt: skip
    path.write_text(json.dumps(data, indent=2, default=str))


def pyplot():  # noqa: ANN202 - matplotlib is imported only when plotting, headless
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_timelines(path: Path, measurements: list[Measurement], title: str) -> None:
    """Seconds of audio received over time, one line per (case, mode, format): the first run.
    The dotted diagonal from the first audio is real-time playback: a line under it starves."""
    plt = pyplot()
    first_runs: dict[tuple[str, str, str], Measurement] = {}
    for m in measurements:
        if not m.error and m.stream:
            first_runs.setdefault((m.case, m.mode, m.fmt), m)
    cases = sorted({case for case, _, _ in first_runs})
    fig, axes = plt.subplots(
        len(cases) or 1, 1, figsize=(9, 3.2 * max(1, len(cases))), squeeze=False
    )
    for ax, case in zip(axes[:, 0], cases, strict=False):
        for (c, mode, fmt), m in sorted(first_runs.items()):
            if c != case:
                continue
            seconds_per_byte = m.audio_seconds / m.bytes
            times, sizes = [0.0], [0]
            for at, size in m.arrivals:
                times.append(at)
                sizes.append(sizes[-1] + size)
            line = ax.step(times, [b * seconds_per_byte for b in sizes], where="post",
                           label=f"{mode} {fmt}")  # fmt: skip
            if mode == "stream":
                ax.plot([m.ttfa, m.ttfa + m.audio_seconds], [0, m.audio_seconds], ":",
                        color=line[0].get_color(), alpha=0.6)  # fmt: skip
        ax.set_title(f"{title}: {case}")
        ax.set_xlabel("seconds since request")
        ax.set_ylabel("audio seconds received")
        ax.grid(alpha=0.3)
        ax.legend(fontsize="small")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_load(path: Path, measurements: list[Measurement], title: str) -> None:
    """TTFA distribution per client class under load."""
    plt = pyplot()
    classes = sorted({m.mode for m in measurements})
    data = [[m.ttfa for m in measurements if m.mode == c and not m.error] for c in classes]
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.boxplot(data, showfliers=True)
    ax.set_xticks(range(1, len(classes) + 1), classes)
    for i, values in enumerate(data, 1):
        ax.scatter([i] * len(values), values, alpha=0.5, s=12)
    ax.set_ylabel("time to first audio, s")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
