"""Kokoro-82M on onnxruntime (CPU by default; any provider the installed onnxruntime offers)."""

from __future__ import annotations

import hashlib
import logging
import os
import platform
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import onnxruntime as ort
from onnxruntime.capi import onnxruntime_pybind11_state as ort_errors

from tts_service.assets import (
    AssetError,
    atomic_write,
    copy_key,
    mark_verified,
    sha256_of,
    unchanged_since_verified,
    verified_stamp,
)
from tts_service.backends import (
    SAMPLE_RATE,
    SAMPLES_PER_FRAME,
    WINDOW_CONTEXT_FRAMES,
    Prepared,
    prepared_whole,
    render_whole,
    window_bounds,
)
from tts_service.backends.onnx_stages import Cut, StageError, ensure_stages

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
    """The model as its three stages (``onnx_stages``), or, for a graph that cannot be split,
    whole: then ``render`` slices the whole chunk's audio, and durations come only from a model
    that outputs them (``tts-service export-onnx``)."""

    name = "onnx"
    sample_rate = SAMPLE_RATE

    def __init__(
        self,
        sessions: dict[str, ort.InferenceSession],
        cut: Cut | None = None,
        *,
        shrink_arena: bool = False,
    ) -> None:
        """``sessions``: the stages by name with their ``cut``, or ``{"whole": session}``.
        ``shrink_arena``: release the memory of each run after it (``ARENA_SHRINKAGE``; for
        ``benchmarks/memory.py``'s comparison)."""
        from kokoro_onnx.session import input_dtypes

        self._sessions = sessions
        self._cut = cut
        # Shared by every run, so that one flag stops them all (``interrupt``).
        self._shrink_arena = shrink_arena
        self._run_options = self._options()
        self._renders: dict[int, ort.RunOptions] = {}
        """Each running ``render``'s own options, by thread: ``preempt`` stops one alone."""
        self._renders_lock = threading.Lock()
        first = sessions["text"] if cut is not None else sessions["whole"]
        self._dtypes = input_dtypes(first)
        # Older exports call the token input "tokens", newer ones "input_ids".
        self._tokens_input = "input_ids" if "input_ids" in self._dtypes else "tokens"
        self.windowed = cut is not None
        if cut is None:
            outputs = [output.name for output in first.get_outputs()]
            self._audio_output = outputs[0]
            self.durations = DURATIONS_OUTPUT in outputs
        else:
            self.durations = True

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
        return cls.load(files.model, settings.models_dir, options, providers)

    @classmethod
    def load(
        cls,
        model: Path,
        cache: Path,
        options: ort.SessionOptions,
        providers: list[str] | None = None,
        *,
        shrink_arena: bool = False,
    ) -> OnnxBackend:
        """``model`` split into its stages (kept in ``cache``), or whole where it cannot be."""
        providers = providers or ["CPUExecutionProvider"]
        try:
            stages = ensure_stages(model, cache)
        except StageError as exc:
            logger.warning("Running %s whole, without streaming below the chunk: %s", model, exc)
            whole = {"whole": _session(model, cache, options, providers)}
            _warn_if_fallen_back(whole, providers)
            return cls(whole, None, shrink_arena=shrink_arena)
        sessions = {
            name: _session(graph, cache, options, providers) for name, graph in stages.items()
        }
        _warn_if_fallen_back(sessions, providers)
        for stale in cache.glob(f".{model.stem}.*.ort"):  # the whole graph's, from before the split
            remove_cached(stale)
        text = [output.name for output in sessions["text"].get_outputs()]
        cut = Cut(
            tokens=sessions["text"].get_inputs()[0].name,
            durations=text[0], asr=text[1], f0=text[2], n=text[3],
            phase=sessions["source"].get_outputs()[0].name,
            audio=sessions["waveform"].get_outputs()[0].name,
        )  # fmt: skip
        return cls(sessions, cut, shrink_arena=shrink_arena)

    def _inputs(self, tokens: list[int], style: np.ndarray, speed: float) -> dict[str, np.ndarray]:
        return {
            self._tokens_input: np.array([[0, *tokens, 0]], dtype=self._dtypes[self._tokens_input]),
            "style": np.asarray(style, dtype=self._dtypes["style"]).reshape(1, -1),
            "speed": np.array([speed], dtype=self._dtypes["speed"]),
        }

    def style_as_used(self, styles: np.ndarray) -> np.ndarray:
        with np.errstate(over="ignore"):  # what overflows becomes inf, as it would in the model
            return np.asarray(styles, dtype=self._dtypes["style"]).astype(np.float32)

    def _options(self) -> ort.RunOptions:
        options = ort.RunOptions()
        if self._shrink_arena:
            options.add_run_config_entry(*ARENA_SHRINKAGE)
        return options

    def interrupt(self) -> None:
        """onnxruntime checks the flag between graph nodes: a running chunk ends within
        milliseconds, whatever its length, instead of holding shutdown for seconds."""
        self._run_options.terminate = True
        with self._renders_lock:
            for options in self._renders.values():
                options.terminate = True

    def preempt(self, thread: int) -> bool:
        with self._renders_lock:
            options = self._renders.get(thread)
            if options is not None:
                options.terminate = True
        return options is not None

    def prepare(self, tokens: list[int], style: np.ndarray, speed: float) -> Prepared:
        inputs = self._inputs(tokens, style, speed)
        if self._cut is None:  # the whole model, run now
            names = [self._audio_output] + ([DURATIONS_OUTPUT] if self.durations else [])
            audio, *rest = self._sessions["whole"].run(names, inputs, self._run_options)
            durations = np.asarray(rest[0]).ravel().astype(np.int64) if rest else None
            return prepared_whole(np.asarray(audio, dtype=np.float32).ravel(), durations)
        cut = self._cut
        durations, asr, f0, n = self._sessions["text"].run(
            [cut.durations, cut.asr, cut.f0, cut.n], inputs, self._run_options
        )
        (phase,) = self._sessions["source"].run([cut.phase], {cut.f0: f0}, self._run_options)
        durations = np.asarray(durations).ravel().astype(np.int64)
        features = _Features(asr, f0, n, phase, inputs["style"])
        return Prepared(int(durations.sum()), durations, features)

    def render(
        self, prepared: Prepared, start: int, end: int, context: int = WINDOW_CONTEXT_FRAMES
    ) -> np.ndarray:
        """``Backend.render``; ``context`` frames on each side (``benchmarks/windows.py``)."""
        if self._cut is None:
            return render_whole(prepared, start, end)
        cut, f = self._cut, prepared.features
        lo, hi = window_bounds(prepared.frames, start, end, context)
        feeds = {
            cut.asr: f.asr[..., lo:hi],
            cut.f0: f.f0[..., 2 * lo : 2 * hi],
            cut.n: f.n[..., 2 * lo : 2 * hi],
            "style": f.style,
            cut.phase: f.phase[:, 2 * lo : 2 * hi],
        }
        options, thread = self._options(), threading.get_ident()
        with self._renders_lock:
            options.terminate = self._run_options.terminate
            self._renders[thread] = options
        try:
            (audio,) = self._sessions["waveform"].run([cut.audio], feeds, options)
        finally:
            with self._renders_lock:
                del self._renders[thread]
        audio = np.asarray(audio, dtype=np.float32).ravel()
        offset = (start - lo) * SAMPLES_PER_FRAME
        return audio[offset : offset + (end - start) * SAMPLES_PER_FRAME]

    def synthesize(self, tokens: list[int], style: np.ndarray, speed: float) -> np.ndarray:
        if self._cut is None:  # the whole model's audio, unpadded
            inputs = self._inputs(tokens, style, speed)
            (audio,) = self._sessions["whole"].run([self._audio_output], inputs, self._run_options)
            return np.asarray(audio, dtype=np.float32).ravel()
        prepared = self.prepare(tokens, style, speed)
        return self.render(prepared, 0, prepared.frames)

    def synthesize_with_durations(
        self, tokens: list[int], style: np.ndarray, speed: float
    ) -> tuple[np.ndarray, np.ndarray]:
        if not self.durations:
            raise NotImplementedError("This ONNX model has no durations output.")
        prepared = self.prepare(tokens, style, speed)
        assert prepared.durations is not None
        return self.render(prepared, 0, prepared.frames), prepared.durations


@dataclass(frozen=True)
class _Features:
    """The text stage's output for the waveform stage: (1, C, frames), (1, 2 × frames) twice,
    (1, 2 × frames, harmonics), and the style it was made with."""

    asr: np.ndarray
    f0: np.ndarray
    n: np.ndarray
    phase: np.ndarray
    style: np.ndarray


def _session(
    model: Path | bytes, cache: Path, options: ort.SessionOptions, providers: list[str]
) -> ort.InferenceSession:
    """A session for ``model`` (a file or a serialized graph); on the plain CPU provider a file's
    optimized graph is cached (``_cpu_session``)."""
    options = _copy(options)  # _cpu_session sets a file name and a level in its own
    if isinstance(model, Path) and providers == ["CPUExecutionProvider"]:
        return _cpu_session(model, cache, options)
    source = str(model) if isinstance(model, Path) else model
    return ort.InferenceSession(source, options, providers=providers)


def _copy(options: ort.SessionOptions) -> ort.SessionOptions:
    """The settings the service (and the memory benchmark) makes, in fresh options."""
    copy = ort.SessionOptions()
    for name in ("intra_op_num_threads", "inter_op_num_threads", "enable_cpu_mem_arena",
                 "graph_optimization_level", "execution_mode", "log_severity_level"):  # fmt: skip
        setattr(copy, name, getattr(options, name))
    return copy


def _providers() -> list[str]:
    """kokoro-onnx's choice of execution providers (``ONNX_PROVIDER``, or every provider of an
    accelerated onnxruntime build), short-cut for the plain CPU build, where there is nothing to
    choose: importing kokoro-onnx pulls in espeak's phonemizer, and start-up builds the session
    before it needs that (see ``tts_service.loading``)."""
    plain = {"CPUExecutionProvider", "AzureExecutionProvider"}
    if "ONNX_PROVIDER" not in os.environ and set(ort.get_available_providers()) <= plain:
        return ["CPUExecutionProvider"]
    from kokoro_onnx.session import resolve_providers

    providers = list(resolve_providers())
    if "ONNX_PROVIDER" not in os.environ:
        # onnxruntime-gpu offers TensorRT, whose libraries nothing here installs: asking for it
        # costs every start a failed attempt and a retry. ONNX_PROVIDER still selects it.
        providers = [p for p in providers if p != "TensorrtExecutionProvider"]
    if "CUDAExecutionProvider" in providers:
        _preload_cuda()
    return providers


def _preload_cuda() -> None:
    """Load CUDA and cuDNN from the NVIDIA pip wheels (the GPU image's): onnxruntime-gpu finds
    them there only if torch was imported first or this is asked for; without it the CUDA
    provider fails to load (``libcublasLt.so.13: cannot open shared object file``)."""
    preload = getattr(ort, "preload_dlls", None)  # onnxruntime-gpu 1.21 and later
    if preload is None:
        return
    try:
        preload(cuda=True, cudnn=True, msvc=False)
    except (OSError, RuntimeError) as exc:
        logger.warning("Could not preload CUDA libraries for onnxruntime: %s", exc)


def _warn_if_fallen_back(sessions: dict[str, ort.InferenceSession], asked: list[str]) -> None:
    """onnxruntime runs on the CPU, logging only an error of its own, when an accelerated
    provider cannot start: say so where operators look."""
    for provider in asked:
        if provider == "CPUExecutionProvider":
            continue
        missing = [name for name, s in sessions.items() if provider not in s.get_providers()]
        if missing:
            logger.warning(
                "%s was asked for but did not start (see onnxruntime's error above): the %s "
                "graph(s) run on the CPU",
                provider, ", ".join(missing),
            )  # fmt: skip


_LOAD_ERRORS = (ort_errors.Fail, ort_errors.InvalidProtobuf, ort_errors.InvalidGraph)


def optimized_model_path(model: Path, cache: Path) -> Path:
    """Where the graph onnxruntime optimized for this model, onnxruntime and CPU is kept: the
    optimized graph is specific to the machine, so the name carries a fingerprint of all three."""
    cpuinfo = Path("/proc/cpuinfo")
    flags = ""
    if cpuinfo.is_file():
        lines = cpuinfo.read_text(errors="replace").splitlines()
        flags = next((line for line in lines if line.startswith(("flags", "Features"))), "")
    key = "|".join((ort.__version__, platform.machine(), flags, str(model.resolve()),
                    copy_key(model)))  # fmt: skip
    return cache / f".{model.stem}.{hashlib.sha256(key.encode()).hexdigest()[:16]}.ort"


def _sidecars(optimized: Path) -> list[Path]:
    """The files kept beside a cached graph: its SHA-256 and its verified stamp."""
    return [optimized.with_name(f"{optimized.name}.sha256"), verified_stamp(optimized)]


def remove_cached(optimized: Path) -> None:
    for path in (optimized, *_sidecars(optimized)):
        path.unlink(missing_ok=True)


def cache_problem(optimized: Path) -> str | None:
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


def record_cached(path: Path) -> None:
    """Record the SHA-256 of a complete cached graph beside it (``cache_problem`` checks it)."""
    digest = sha256_of(path)
    atomic_write(_sidecars(path)[0], lambda f: f.write(digest.encode()))
    mark_verified(path)


def _save_cached(written: Path, optimized: Path) -> None:
    """Move the complete graph into place, then record its SHA-256 beside it."""
    os.replace(written, optimized)
    record_cached(optimized)


def _cpu_session(model: Path, cache: Path, options: ort.SessionOptions) -> ort.InferenceSession:
    """Load the model, reusing the graph optimized at an earlier start (saves about a second of
    start-up on 2 cores); the first start optimizes as usual and saves the result.

    The cache is only an optimization: a cached graph that fails its hash or does not load is
    removed and rebuilt, and one that cannot be saved (a full or read-only volume) costs one
    warning, never the start."""
    optimized = optimized_model_path(model, cache)
    if optimized.is_file():
        if (problem := cache_problem(optimized)) is None:
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
        remove_cached(optimized)
    if not os.access(cache, os.W_OK):
        return ort.InferenceSession(str(model), options, providers=["CPUExecutionProvider"])
    for stale in cache.glob(f".{model.stem}.*.ort"):  # another onnxruntime, CPU or model
        remove_cached(stale)
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
        remove_cached(optimized)
    return session
