"""Inference backends behind one small Protocol, imported lazily by name.

The model is language-blind: phoneme tokens, a style vector and a speed go in, float32 PCM comes
out. Text, voices and chunking live outside it.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import numpy as np

if TYPE_CHECKING:
    from collections.abc import Callable

    from tts_service.assets import ModelFiles
    from tts_service.config import Settings

SAMPLE_RATE = 24_000


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

    def interrupt(self) -> None:
        """Stop the inferences running now as soon as the framework allows, each raising in its
        worker, and any started later. Called once, at shutdown, when no stream is left to hear
        them; a backend that cannot stop one returns at once and lets it run to its end."""
        ...


# name → "module:factory"; each factory takes (settings, files). Imported only when chosen, so
# the CPU install never imports an optional framework.
BACKENDS: dict[str, str] = {
    "onnx": "tts_service.backends.onnx:OnnxBackend.from_settings",
    "torch": "tts_service.backends.pytorch:TorchBackend.from_settings",
}


def _import(target: str):  # noqa: ANN202 - returns a factory
    module_name, _, attribute = target.partition(":")
    obj = importlib.import_module(module_name)
    for part in attribute.split("."):
        obj = getattr(obj, part)
    return obj


def torch_installed() -> bool:
    """Whether the ``torch`` extra is installed (checked without importing anything)."""
    return all(importlib.util.find_spec(name) is not None for name in ("torch", "kokoro", "onnx"))


def _gpu_driver_present() -> bool:
    """Whether a CUDA (NVIDIA) or ROCm (AMD) kernel driver is loaded; PyTorch can use neither
    without one. Outside Linux there is no such cheap check: assume one may be there."""
    if sys.platform != "linux":
        return True
    return Path("/proc/driver/nvidia/version").exists() or Path("/dev/kfd").exists()


def resolve_backend_name(requested: str) -> str:
    """``auto`` → ``torch`` when the extra is installed and CUDA is available, else ``onnx``."""
    if requested != "auto":
        return requested
    if torch_installed() and _gpu_driver_present():
        import torch  # about 2 s and 150 MB: only where a GPU driver says it may pay off

        if torch.cuda.is_available():
            return "torch"
    return "onnx"


def backend_factory(settings: Settings) -> Callable[[Settings, ModelFiles], Backend]:
    """The chosen backend's factory; imports its module (and its framework) on first call."""
    return _import(BACKENDS[resolve_backend_name(settings.backend)])  # type: ignore[no-any-return]


def load_backend(settings: Settings, files: ModelFiles) -> Backend:
    return backend_factory(settings)(settings, files)
