"""Inference backends behind one small Protocol, imported lazily by name.

The model is language-blind: phoneme tokens, a style vector and a speed go in, float32 PCM comes
out. Text, voices and chunking live outside it.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol

import numpy as np

if TYPE_CHECKING:
    from collections.abc import Callable

    from tts_service.assets import ModelFiles
    from tts_service.config import Settings

SAMPLE_RATE = 24_000
SAMPLES_PER_FRAME = 600
"""The model's audio frame: each token is spoken for a whole number of these."""


@dataclass(frozen=True)
class Prepared:
    """A chunk after the model's text stage (tokens, voice, speed → durations and the aligned
    features the waveform stage turns into sound): ``Backend.render`` makes its audio, whole or
    a window of frames at a time."""

    frames: int
    """Length of the chunk's audio in ``SAMPLES_PER_FRAME``-sample frames."""
    durations: np.ndarray | None
    """Each token's frames with the two boundary pads (``durations[0]`` the leading pad,
    ``durations[i + 1]`` token i); they sum to ``frames``. None where the backend does not
    predict them (``durations`` false)."""
    features: Any
    """What the backend's waveform stage needs (its own business)."""


WINDOW_CONTEXT_FRAMES = 32
"""Frames of context rendered on each side of a window and cropped off (every windowed backend). The waveform stage's
instance normalization takes its statistics from what it renders, so the context is chosen by
how close a window comes to the whole chunk's audio, not by the convolutions' reach: measured
over 25 texts, 32 frames bring the mean log-mel distance to the whole render from 2.06 dB (16)
to 1.63 dB, for 16 frames more of first-audio work (docs/performance.md, Windowed rendering)."""


FIRST_WINDOW_CONTEXT_FRAMES = 16
"""The context after a stream's first window (it has none before it: it starts the chunk). Its
work is first audio's: 16 frames instead of 32 took the text stage and first window of a
206-token sentence from 0.665 to 0.553 s (side by side, a loaded machine), and the quality gate
holds with it (docs/performance.md, Windows)."""


def window_bounds(frames: int, start: int, end: int, context: int) -> tuple[int, int]:
    """The frames rendered for window ``start``–``end`` of a ``frames``-frame chunk: ``context``
    more on each side where the chunk has them (the audio is cropped back to the window)."""
    return max(0, start - context), min(frames, end + context)


def prepared_whole(audio: np.ndarray, durations: np.ndarray | None) -> Prepared:
    """A chunk synthesized whole, for a backend (or a model) without the split: its audio,
    padded to whole frames, is the features, and ``render_whole`` slices it."""
    frames = -(-audio.size // SAMPLES_PER_FRAME)
    padded = np.zeros(frames * SAMPLES_PER_FRAME, dtype=np.float32)
    padded[: audio.size] = audio
    return Prepared(frames, durations, padded)


def render_whole(prepared: Prepared, start: int, end: int) -> np.ndarray:
    """``Backend.render`` of a ``prepared_whole`` chunk."""
    return prepared.features[start * SAMPLES_PER_FRAME : end * SAMPLES_PER_FRAME]  # type: ignore[no-any-return]


class Backend(Protocol):
    name: str
    sample_rate: int
    durations: bool
    """Whether ``synthesize_with_durations`` works: the model reports how long it speaks each
    token (word timestamps need it)."""

    def synthesize(self, tokens: list[int], style: np.ndarray, speed: float) -> np.ndarray:
        """Speak ``tokens`` (at most 510) with ``style`` (1×256) at ``speed``; float32 mono PCM."""
        ...

    def synthesize_with_durations(
        self, tokens: list[int], style: np.ndarray, speed: float
    ) -> tuple[np.ndarray, np.ndarray]:
        """PCM as ``synthesize``, and each token's duration in 600-sample frames with the two
        boundary pads: ``durations[0]`` is the leading pad, ``durations[i + 1]`` is token i.
        Only when ``durations`` is true."""
        ...

    windowed: bool
    """Whether ``render`` computes only the frames asked for (with the context they need); a
    backend without a split model renders the whole chunk in ``prepare`` and slices it."""

    def prepare(self, tokens: list[int], style: np.ndarray, speed: float) -> Prepared:
        """The text stage for ``tokens`` (at most 510) with ``style`` (1×256) at ``speed``."""
        ...

    def render(
        self, prepared: Prepared, start: int, end: int, context: int = WINDOW_CONTEXT_FRAMES
    ) -> np.ndarray:
        """float32 mono PCM of frames ``start``–``end`` of a prepared chunk
        (``SAMPLES_PER_FRAME × (end - start)`` samples), rendered with ``context`` frames more
        on each side where the chunk has them. ``render(p, 0, p.frames)`` is what
        ``synthesize`` gives."""
        ...

    def style_as_used(self, styles: np.ndarray) -> np.ndarray:
        """``styles`` (float32, any shape) as the model computes with them: converted to its
        precision and back to float32, so that what that precision cannot hold shows (a value
        too large for float16 becomes inf, one too small 0)."""
        ...

    def interrupt(self) -> None:
        """Stop the inferences running now as soon as the framework allows, each raising in its
        worker, and any started later. Called once, at shutdown, when no stream is left to hear
        them; a backend that cannot stop one returns at once and lets it run to its end."""
        ...

    def preempt(self, thread: int) -> bool:
        """Stop the ``render`` running on thread ``thread`` (its ``threading.get_ident()``) as
        soon as the framework allows, raising in it; the window is rendered again later. False
        where none runs there or the backend cannot stop one (it then runs to its end)."""
        ...


@dataclass(frozen=True)
class BackendSpec:
    """One inference backend and what it needs; everything outside this table reads it."""

    factory: str
    """``module:callable`` that takes (settings, files) and returns the Backend; imported only
    when the backend is chosen, so an install without its framework never imports it."""
    extra: str | None = None
    """The package extra that installs it (``pip install -e '.[extra]'``); None: the base install."""
    modules: tuple[str, ...] = ()
    """Top-level modules the extra installs: all found (nothing imported) means it is installed."""
    accelerator: str | None = None
    """``module:callable`` → whether it has its accelerator here, so that ``auto`` picks it. It
    may import the framework: it is asked only where a GPU driver is loaded."""
    warmup: bool = False
    """Whether start-up runs one synthesis before reporting ready when ``TTS_WARMUP`` is unset."""
    durations: bool = False
    """Whether it predicts how long each token is spoken (word timestamps need it; the ONNX
    backend does for every Kokoro graph it can split into stages)."""
    prepare: str | None = None
    """``module:callable(settings, *, build)`` for the files it needs beyond the ONNX model and
    voices: built by ``fetch`` and ``convert`` (``build=True``), checked before serving."""

    def installed(self) -> bool:
        return all(importlib.util.find_spec(name) is not None for name in self.modules)


BACKENDS: dict[str, BackendSpec] = {
    # onnxruntime, in the base install: what ``auto`` falls back to.
    "onnx": BackendSpec(
        "tts_service.backends.onnx:OnnxBackend.from_settings",
        durations=True,
        prepare="tts_service.backends.onnx_stages:prepare",
    ),
    # PyTorch: the first inference on CUDA sets up its kernels, hence the warm-up.
    "torch": BackendSpec(
        "tts_service.backends.pytorch:TorchBackend.from_settings",
        extra="torch",
        modules=("torch", "kokoro", "onnx"),
        accelerator="tts_service.backends.pytorch:accelerator_available",
        warmup=True,
        durations=True,
        prepare="tts_service.backends.torch_weights:prepare",
    ),
}
"""name → backend; adding a backend is one entry here (and its name in ``BackendName``) plus its
module."""

BackendName = Literal["onnx", "torch"]
"""The names in ``BACKENDS``, spelt out for type checkers and ``TTS_BACKEND`` (a test keeps the
two equal)."""


def _import(target: str):  # noqa: ANN202 - returns a factory
    module_name, _, attribute = target.partition(":")
    obj = importlib.import_module(module_name)
    for part in attribute.split("."):
        obj = getattr(obj, part)
    return obj


def _gpu_driver_present() -> bool:
    """Whether a CUDA (NVIDIA) or ROCm (AMD) kernel driver is loaded; no framework can use a GPU
    without one. Outside Linux there is no such cheap check: assume one may be there."""
    if sys.platform != "linux":
        return True
    return Path("/proc/driver/nvidia/version").exists() or Path("/dev/kfd").exists()


def base_backend() -> str:
    """The first backend of the base install (no extra): ``auto``'s fallback."""
    return next(name for name, spec in BACKENDS.items() if spec.extra is None)


def resolve_backend_name(requested: str) -> str:
    """``auto`` → the first installed backend that has its accelerator here (asked only where a
    GPU driver is loaded: asking may import a framework, about 2 s and 150 MB for PyTorch), else
    the base install's backend."""
    if requested != "auto":
        return requested
    if _gpu_driver_present():
        for name, spec in BACKENDS.items():
            if spec.accelerator and spec.installed() and _import(spec.accelerator)():
                return name
    return base_backend()


def warmup_by_default(name: str) -> bool:
    """Whether backend ``name`` warms up when ``TTS_WARMUP`` is unset (no: one not in the table)."""
    spec = BACKENDS.get(name)
    return spec is not None and spec.warmup


def prepare_backend(settings: Settings, name: str, *, build: bool) -> None:
    """Check that backend ``name`` is installed, and build (``build``) or check the files it needs
    beyond the ONNX model; AssetError says what to do when either is missing."""
    from tts_service.assets import AssetError

    spec = BACKENDS[name]
    if not spec.installed():
        raise AssetError(
            f"The {name} backend needs the {spec.extra} extra: pip install -e '.[{spec.extra}]' "
            f"(or set TTS_BACKEND={base_backend()})."
        )
    if spec.prepare is not None:
        _import(spec.prepare)(settings, build=build)


def backend_factory(settings: Settings) -> Callable[[Settings, ModelFiles], Backend]:
    """The chosen backend's factory; imports its module (and its framework) on first call."""
    return _import(BACKENDS[resolve_backend_name(settings.backend)].factory)  # type: ignore[no-any-return]


def load_backend(settings: Settings, files: ModelFiles) -> Backend:
    return backend_factory(settings)(settings, files)
