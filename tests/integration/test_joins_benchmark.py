"""The joins benchmark (benchmarks/joins.py) on a tiny input: it runs the real model through the
service's chunk synthesis and reports that the fix holds: every cut edge at zero, the chunks
at the target loudness."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path


def test_the_joins_benchmark_reports_jumps_and_loudness_before_and_after(
    model_settings: object,
) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "benchmarks.joins", "--short", "--target", "-25"],
        cwd=Path(__file__).parents[2], capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    out = result.stdout
    edges = re.findall(
        r"^\| (start|word|clause|sentence|end) \| (\d+) \| ([\d.]+) \| ([\d.]+) \|", out, re.M
    )
    assert {kind for kind, *_ in edges} >= {"start", "end"}
    assert all(float(after) == 0.0 for *_, after in edges)  # faded: every edge at zero
    assert any(float(before) > 0.0 for *_, before, _after in edges)  # before: not
    (row,) = re.findall(
        r"^\| af_heart \| ([\d.]+) \| ([\d.]+) \| (-[\d.]+) \| (-[\d.]+) \|$", out, re.M
    )
    assert abs(float(row[3]) + 25) <= 0.5  # the stream at the target
    assert "Cost of loudness and gain per chunk" in out
