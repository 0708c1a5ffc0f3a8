"""The stage benchmark (benchmarks/stages.py) and its GPU script (benchmarks/gpu.sh, run with
``--cpu`` and 2 streams) on two short lengths: one row per backend and length, the parts adding
up to about the whole call (the same work, timed piece by piece), the generator the largest
part."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]
NUMBER = r"([\d.]+)"


def rows(out: str, backend: str) -> list[list[float]]:
    """The stage table's numbers per row of ``backend``: phonemes, audio, the four parts, sum,
    whole, first window, first audio, first audio / whole."""
    pattern = rf"^\| {re.escape(backend)} \| (\d+)" + rf" \| {NUMBER}" * 10 + r" \|$"
    return [[float(v) for v in match] for match in re.findall(pattern, out, re.M)]


def check_stage_rows(found: list[list[float]]) -> None:
    assert [row[0] for row in found] == [10, 25]
    for row in found:
        phonemes, audio, text, source, frame_rate, generator, total, whole, window, first, ratio = (
            row
        )
        assert audio > 0 and window > 0
        # Medians of each part against the median whole, each rounded to 3 decimals.
        assert total == pytest.approx(text + source + frame_rate + generator, rel=0.05, abs=0.005)
        assert 1 / 3 < total / whole < 3, (phonemes, total, whole)
        assert generator > max(text, source, frame_rate)  # where the time goes
        assert first == pytest.approx(text + source + window, abs=0.002)
        assert ratio == pytest.approx(first / whole, abs=0.01)


def test_the_stage_benchmark_prints_a_row_per_length_whose_parts_add_up(
    model_settings: object,
) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "benchmarks.stages", "--backend", "onnx", "--lengths", "10,25",
         "--repeats", "3"],
        cwd=ROOT, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    check_stage_rows(rows(result.stdout, "onnx int8"))


@pytest.mark.timeout(900)  # torch on 2 busy cores: slower than ONNX
def test_the_gpu_script_runs_the_torch_stage_table_and_the_streams_on_the_cpu(
    model_settings: object,
) -> None:
    pytest.importorskip("torch", reason="the PyTorch backend comes with the test extra")
    result = subprocess.run(
        ["bash", "benchmarks/gpu.sh", "--cpu", "--lengths", "10,25", "--repeats", "1",
         "--streams", "2"],
        cwd=ROOT, capture_output=True, text=True, timeout=840,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("torch ")  # the version and the device, first
    check_stage_rows(rows(result.stdout, "torch cpu float32"))
    (streams,) = re.findall(
        rf"^\| torch cpu float32 \| 2 \| 25 \| {NUMBER} \| {NUMBER} \| {NUMBER} \| {NUMBER} "
        rf"\| {NUMBER} \|$",
        result.stdout, re.M,
    )  # fmt: skip
    assert all(float(value) > 0 for value in streams)
