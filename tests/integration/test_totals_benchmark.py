"""The totals benchmark runs: our server and the reference server side by side on one round of
the phrase and a short article, and the per-stage breakdown of the phrase, each printing its
table."""

from __future__ import annotations

import re
import subprocess
import sys


def _run(*args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.totals", *args],
        capture_output=True, text=True, timeout=900, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def test_compare_prints_totals_against_the_model_and_the_reference_server() -> None:
    out = _run("compare", "--rounds", "1", "--article-rounds", "1", "--article-chars", "300")
    ratios = [float(r) for r in re.findall(r"\| (\d+\.\d+)× \|", out)]
    assert len(ratios) >= 3 and all(0.2 < r < 20 for r in ratios), out
    speeds = re.findall(r"^\| [^|]+ \| (\d+\.\d+) \|$", out, flags=re.M)
    assert len(speeds) == 2 and all(float(s) > 0 for s in speeds), out


def test_breakdown_prints_where_a_replys_time_goes() -> None:
    out = _run("breakdown", "--article-chars", "0", "--repeats", "1")
    rows = [line for line in out.splitlines() if line.startswith("| ") and "---" not in line]
    assert len(rows) >= 3, out  # the header and a row per plan
