"""Kokoro-82M on onnxruntime (CPU by default; any provider the installed onnxruntime offers)."""

from __future__ import annotations

import hashlib
import logging
import os
import platform
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import onnxruntime as ort
from onnxruntime.capi import onnxruntime_pybind11_state as ort_errors

from tts_service.assets import (
    AssetError,
    atomic_write,
    mark_verified,
    sha256_of,
    unchanged_since_verified,
    verified_stamp,
)
from tts_service.backends import SAMPLE_RATE

if TYPE_CHECKING:
    from tts_service.assets import ModelFiles
    from tts_service.config import Settings

logger = logging.getLogger(__name__)

DURATIONS_OUTPUT = "durations"
ARENA_SHRINKAGE = ("memory.enable_memory_arena_shrinkage", "cpu:0")
"""Run option: after each run, onnxruntime hands the CPU arena's unused memory back. Not used by
the service: it made every inference about twice as slow on 2 cores, and the arena's peak is
bounded anyway by the longest chunk (``TTS_MAX_CHUNK_SECONDS``; docs/performance.md, Memory)."""


class OnnxBackend:
    name = "onnx"
    sample_rate = SAMPLE_RATE

    def __init__(self, session: ort.InferenceSession, *, shrink_arena: bool = False) -> None:
        """``shrink_arena``: release the memory of each run after it (``ARENA_SHRINKAGE``; for
        ``benchmarks/memory.py``'s comparison)."""
        from kokoro_onnx.session import input_dtypes

        self._session = session
        # Shared by every run, so that one flag stops them all (``interrupt``).
        self._run_options = ort.RunOptions()
        if shrink_arena:
            self._run_options.add_run_config_entry(*ARENA_SHRINKAGE)
        self._dtypes = input_dtypes(session)
        # Older exports call the token input "tokens", newer ones "input_ids".
        self._tokens_input = "input_ids" if "input_ids" in self._dtypes else "tokens"
        # The published exports give only audio; ``tts-service export-onnx`` adds durations.
        outputs = [output.name for output in session.get_outputs()]
        self._audio_output = outputs[0]
        self.durations = DURATIONS_OUTPUT in outputs

    @classmethod
    def from_settings(cls, settings: Settings, files: ModelFiles) -> OnnxBackend:
        options = ort.SessionOptions()
        # Several workers share this session, each running one inference on its own threads.
        options.intra_op_num_threads = settings.threads_per_inference
        providers = _providers()
        logger.info(
            "Loading %s on onnxruntime %s (%s), %d thread(s) per inference",
            files.model, ort.__version__, providers, settings.threads_per_inference,
        )  # fmt: skip
        if providers != ["CPUExecutionProvider"]:
            return cls(ort.InferenceSession(str(files.model), options, providers=providers))
        return cls(_cpu_session(files.model, settings.models_dir, options))

    def _run(self, outputs: list[str], tokens: list[int], style: np.ndarray, speed: float) -> list:
        inputs = {
            self._tokens_input: np.array([[0, *tokens, 0]], dtype=self._dtypes[self._tokens_input]),
            "style": np.asarray(style, dtype=self._dtypes["style"]).reshape(1, -1),
            "speed": np.array([speed], dtype=self._dtypes["speed"]),
        }
        return self._session.run(outputs, inputs, self._run_options)

    def style_as_used(self, styles: np.ndarray) -> np.ndarray:
        with np.errstate(over="ignore"):  # what overflows becomes inf, as it would in the model
            return np.asarray(styles, dtype=self._dtypes["style"]).astype(np.float32)

    def interrupt(self) -> None:
        """onnxruntime checks the flag between graph nodes: a running chunk ends within
        milliseconds, whatever its length, instead of holding shutdown for seconds."""
        self._run_options.terminate = True

    def synthesize(self, tokens: list[int], style: np.ndarray, speed: float) -> np.ndarray:
        (audio,) = self._run([self._audio_output], tokens, style, speed)
        return np.asarray(audio, dtype=np.float32).ravel()

    def synthesize_with_durations(
        self, tokens: list[int], style: np.ndarray, speed: float
    ) -> tuple[np.ndarray, np.ndarray]:
        if not self.durations:
            raise NotImplementedError("This ONNX model has no durations output.")
        audio, durations = self._run([self._audio_output, DURATIONS_OUTPUT], tokens, style, speed)
        return np.asarray(audio, dtype=np.float32).ravel(), np.asarray(durations).ravel()


def _providers() -> list[str]:
    """kokoro-onnx's choice of execution providers (``ONNX_PROVIDER``, or every provider of an
    accelerated onnxruntime build), short-cut for the plain CPU build, where there is nothing to
    choose: importing kokoro-onnx pulls in espeak's phonemizer, and start-up builds the session
    before it needs that (see ``tts_service.loading``)."""
    plain = {"CPUExecutionProvider", "AzureExecutionProvider"}
    if "ONNX_PROVIDER" not in os.environ and set(ort.get_available_providers()) <= plain:
        return ["CPUExecutionProvider"]
    from kokoro_onnx.session import resolve_providers

    return resolve_providers()


_LOAD_ERRORS = (ort_errors.Fail, ort_errors.InvalidProtobuf, ort_errors.InvalidGraph)


def optimized_model_path(model: Path, cache: Path) -> Path:
    """Where the graph onnxruntime optimized for this model, onnxruntime and CPU is kept: the
    optimized graph is specific to the machine, so the name carries a fingerprint of all three."""
    stat = model.stat()
    cpuinfo = Path("/proc/cpuinfo")
    flags = ""
    if cpuinfo.is_file():
        lines = cpuinfo.read_text(errors="replace").splitlines()
        flags = next((line for line in lines if line.startswith(("flags", "Features"))), "")
    key = "|".join(
        (ort.__version__, platform.machine(), flags, str(model.resolve()), str(stat.st_size),
         str(stat.st_mtime_ns))
    )  # fmt: skip
    return cache / f".{model.stem}.{hashlib.sha256(key.encode()).hexdigest()[:16]}.ort"


def _sidecars(optimized: Path) -> list[Path]:
    """The files kept beside a cached graph: its SHA-256 and its verified stamp."""
    return [optimized.with_name(f"{optimized.name}.sha256"), verified_stamp(optimized)]


def _remove_cached(optimized: Path) -> None:
    for path in (optimized, *_sidecars(optimized)):
        path.unlink(missing_ok=True)


def _cache_problem(optimized: Path) -> str | None:
    """What is wrong with the cached graph, if anything: it must have the SHA-256 recorded when
    it was saved, as flipped bytes would otherwise load silently and change the audio. Hashed
    once per size and mtime, as the model files are (``tts_service.assets``)."""
    if unchanged_since_verified(optimized):
        return None
    try:
        recorded = _sidecars(optimized)[0].read_text().strip()
    except FileNotFoundError:
        return "has no recorded SHA-256 (it was saved by an earlier version)"
    try:
        if recorded != sha256_of(optimized):
            return "does not match its recorded SHA-256"
    except OSError as exc:
        return f"cannot be read ({exc})"
    mark_verified(optimized)
    return None


def _save_cached(written: Path, optimized: Path) -> None:
    """Move the complete graph into place, then record its SHA-256 beside it."""
    os.replace(written, optimized)
    digest = sha256_of(optimized)
    atomic_write(_sidecars(optimized)[0], lambda f: f.write(digest.encode()))
    mark_verified(optimized)


def _cpu_session(model: Path, cache: Path, options: ort.SessionOptions) -> ort.InferenceSession:
    """Load the model, reusing the graph optimized at an earlier start (saves about a second of
    start-up on 2 cores); the first start optimizes as usual and saves the result.

    The cache is only an optimization: a cached graph that fails its hash or does not load is
    removed and rebuilt, and one that cannot be saved (a full or read-only volume) costs one
    warning, never the start."""
    optimized = optimized_model_path(model, cache)
    if optimized.is_file():
        if (problem := _cache_problem(optimized)) is None:
            options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
            try:
                return ort.InferenceSession(
                    str(optimized), options, providers=["CPUExecutionProvider"]
                )
            except _LOAD_ERRORS as exc:
                logger.warning("Ignoring the cached optimized model %s: %s", optimized, exc)
            options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        else:
            logger.warning("The cached optimized model %s %s; rebuilding it", optimized, problem)
        _remove_cached(optimized)
    if not os.access(cache, os.W_OK):
        return ort.InferenceSession(str(model), options, providers=["CPUExecutionProvider"])
    for stale in cache.glob(f".{model.stem}.*.ort"):  # another onnxruntime, CPU or model
        _remove_cached(stale)
    for partial in cache.glob(f".partial.*.{model.stem}.*.ort"):  # left by a crash
        partial.unlink(missing_ok=True)
    # Written under another name and renamed once complete: a crash or a full disk never
    # leaves half a graph under the name the next start loads.
    written = cache / f".partial.{os.getpid()}{optimized.name}"
    options.optimized_model_filepath = str(written)
    options.log_severity_level = 3  # the "hardware specific" warning is why it is keyed so
    try:
        session = ort.InferenceSession(str(model), options, providers=["CPUExecutionProvider"])
    except _LOAD_ERRORS as exc:
        written.unlink(missing_ok=True)
        # Saving the graph may be what failed (onnxruntime fails the session then); without
        # the cache, a model that loads still starts, and one that does not raises its error.
        options.optimized_model_filepath = ""
        session = ort.InferenceSession(str(model), options, providers=["CPUExecutionProvider"])
        logger.warning(
            "Running without the optimized-model cache: cannot save it in %s (%s)", cache, exc
        )
        return session
    try:
        _save_cached(written, optimized)
    except (OSError, AssetError) as exc:
        logger.warning(
            "Running without the optimized-model cache: cannot save it in %s (%s)", cache, exc
        )
        written.unlink(missing_ok=True)
        _remove_cached(optimized)
    return session
