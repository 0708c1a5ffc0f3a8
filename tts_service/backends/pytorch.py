"""Kokoro-82M on PyTorch (hexgrad's ``kokoro.KModel``): CUDA for long-form reading, or the CPU.

Installed with the ``torch`` extra; imported only when ``TTS_BACKEND`` selects it. The weights are
hexgrad's ``kokoro-v1_0.pth`` when the user has it (``TTS_TORCH_WEIGHTS_PATH``), otherwise the
state dict rebuilt offline from the int8 ONNX model (``torch_weights.py``).

On CUDA the model runs under ``torch.inference_mode()`` with optional half-precision autocast
(the STFT stays float32), each worker thread on its own CUDA stream, inputs and outputs copied
through pinned memory.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import torch

from tts_service.backends import (
    SAMPLE_RATE,
    SAMPLES_PER_FRAME,
    WINDOW_CONTEXT_FRAMES,
    Prepared,
    torch_stages,
    window_bounds,
)
from tts_service.backends.batching import Batcher
from tts_service.backends.torch_weights import ensure_weights, load_model

if TYPE_CHECKING:
    from collections.abc import Iterator

    from kokoro.model import KModel

    from tts_service.assets import ModelFiles
    from tts_service.config import Settings

logger = logging.getLogger(__name__)

# The ONNX export's inverse STFT is 1.5× louder than torch.istft (same waveform otherwise): scale
# so that switching backends does not change the volume.
ONNX_LOUDNESS = 1.5
_DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


def accelerator_available() -> bool:
    """Whether PyTorch finds a CUDA (or ROCm) device: ``TTS_BACKEND=auto`` then picks this backend."""
    return torch.cuda.is_available()


def resolve_device(requested: str) -> torch.device:
    if requested == "auto":
        requested = "cuda" if torch.cuda.is_available() else "cpu"
    return torch.device(requested)


def resolve_dtype(requested: str, device: torch.device) -> torch.dtype:
    """``auto``: float32 on the CPU (half precision is slower there), bfloat16 on CUDA."""
    if requested == "auto":
        return torch.bfloat16 if device.type == "cuda" else torch.float32
    return _DTYPES[requested]


class _Float32Stft(torch.nn.Module):
    """Keeps the vocoder's STFT and inverse STFT in float32 under half-precision autocast."""

    def __init__(self, stft: torch.nn.Module) -> None:
        super().__init__()
        self.inner = stft

    def transform(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        with torch.autocast(x.device.type, enabled=False):
            return self.inner.transform(x.float())  # type: ignore[operator,no-any-return]

    def inverse(self, magnitude: torch.Tensor, phase: torch.Tensor) -> torch.Tensor:
        with torch.autocast(magnitude.device.type, enabled=False):
            return self.inner.inverse(magnitude.float(), phase.float())  # type: ignore[operator,no-any-return]


class TorchBackend:
    name = "torch"
    sample_rate = SAMPLE_RATE
    durations = True
    windowed = True

    def __init__(
        self, model: KModel, device: torch.device, dtype: torch.dtype, batch_windows: int = 1
    ) -> None:
        self.device = device
        self.dtype = dtype
        self._batcher = Batcher(self.render_many, batch_windows) if batch_windows > 1 else None
        """Merges windows of one length rendered by several workers at once (None: each alone)."""
        self._model = model.to(device).eval()
        generator = self._model.decoder.generator
        if not isinstance(generator.stft, _Float32Stft):  # a model may be shared by backends
            generator.stft = _Float32Stft(generator.stft)
        self._local = threading.local()
        self._streams: list[torch.cuda.Stream] = []  # one per worker thread that ran on CUDA
        logger.info("Kokoro on PyTorch %s, %s, %s", torch.__version__, device, dtype)

    @classmethod
    def from_settings(cls, settings: Settings, files: ModelFiles) -> TorchBackend:
        if settings.torch_threads:
            torch.set_num_threads(settings.torch_threads)
        weights, config = ensure_weights(settings)
        device = resolve_device(settings.torch_device)
        batch = settings.torch_batch_windows or (
            settings.inference_workers + settings.urgent_workers if device.type == "cuda" else 1
        )
        return cls(
            load_model(weights, config), device, resolve_dtype(settings.torch_dtype, device), batch
        )

    def _stream(self) -> torch.cuda.Stream | None:
        """One CUDA stream per worker thread, so concurrent chunks overlap on the GPU."""
        if self.device.type != "cuda":
            return None
        if not hasattr(self._local, "stream"):
            self._local.stream = torch.cuda.Stream(self.device)
            self._streams.append(self._local.stream)
        return self._local.stream  # type: ignore[no-any-return]

    def _inputs(self, tokens: list[int], style: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        ids = torch.tensor([[0, *tokens, 0]], dtype=torch.long)
        ref = torch.from_numpy(np.asarray(style, dtype=np.float32).reshape(1, -1))
        if self.device.type == "cuda":
            ids, ref = ids.pin_memory(), ref.pin_memory()
        return ids.to(self.device, non_blocking=True), ref.to(self.device, non_blocking=True)

    @contextmanager
    def _running(self) -> Iterator[torch.cuda.Stream | None]:
        """Inference mode, this thread's CUDA stream and the autocast dtype."""
        stream = self._stream()
        autocast = torch.autocast(self.device.type, self.dtype, enabled=self.dtype != torch.float32)
        with torch.inference_mode(), torch.cuda.stream(stream), autocast:  # type: ignore[arg-type]
            yield stream

    def _to_host(self, audio: torch.Tensor, stream: torch.cuda.Stream | None) -> np.ndarray:
        audio = audio.float() * ONNX_LOUDNESS
        if stream is not None:
            host = torch.empty(audio.shape, dtype=torch.float32, pin_memory=True)
            host.copy_(audio, non_blocking=True)
            stream.synchronize()
            audio = host
        return audio.cpu().numpy().ravel()  # type: ignore[no-any-return]

    def synthesize_with_durations(
        self, tokens: list[int], style: np.ndarray, speed: float
    ) -> tuple[np.ndarray, np.ndarray]:
        """PCM and the predicted duration (in 600-sample frames) of each token, with the two
        boundary pads (see ``Backend``): hexgrad's model in one call."""
        with self._running() as stream:
            ids, ref = self._inputs(tokens, style)
            audio, durations = self._model.forward_with_tokens(ids, ref, speed)
            durations = durations.cpu()
            return self._to_host(audio, stream), durations.numpy().ravel()

    def synthesize(self, tokens: list[int], style: np.ndarray, speed: float) -> np.ndarray:
        return self.synthesize_with_durations(tokens, style, speed)[0]

    def prepare(self, tokens: list[int], style: np.ndarray, speed: float) -> Prepared:
        """The text stage and the harmonic source of the whole chunk (``torch_stages``)."""
        with self._running():
            ids, ref = self._inputs(tokens, style)
            durations, asr, f0, n = torch_stages.text_stage(self._model, ids, ref, speed)
            source = torch_stages.harmonic_source(self._model.decoder.generator, f0)
            frames = durations.cpu().numpy().ravel()
        return Prepared(int(frames.sum()), frames, _Features(asr, f0, n, ref[:, :128], source))

    def render(
        self, prepared: Prepared, start: int, end: int, context: int = WINDOW_CONTEXT_FRAMES
    ) -> np.ndarray:
        """Frames ``start``–``end`` with ``context`` frames each side (the whole chunk's source,
        so the phase runs on), cropped. Windows of the same length that other workers render
        meanwhile go in one call (``batch_windows``, ``Batcher``)."""
        lo, hi = window_bounds(prepared.frames, start, end, context)
        window = (prepared, lo, hi)
        if self._batcher is None:
            audio = self.render_many([window])[0]
        else:
            audio = self._batcher(hi - lo, window)
        offset = (start - lo) * SAMPLES_PER_FRAME
        return audio[offset : offset + (end - start) * SAMPLES_PER_FRAME]

    def render_many(self, windows: Sequence[tuple[Prepared, int, int]]) -> list[np.ndarray]:
        """Frames ``lo``–``hi`` of each prepared chunk, uncropped, all of one length: one call."""
        features: list[_Features] = [prepared.features for prepared, _, _ in windows]
        with self._running() as stream:
            rendered = torch_stages.render_many(
                self._model,
                [(f.asr, f.f0, f.n, f.style, f.source, lo, hi)
                 for f, (_, lo, hi) in zip(features, windows, strict=True)],
            )  # fmt: skip
            audio = self._to_host(rendered, stream)
        return np.split(audio, len(windows))

    def style_as_used(self, styles: np.ndarray) -> np.ndarray:
        """Under autocast (float16, bfloat16) the style enters the model's layers in that dtype."""
        table = torch.from_numpy(np.ascontiguousarray(styles, dtype=np.float32))
        return table.to(self.dtype).float().numpy()

    def interrupt(self) -> None:
        """PyTorch cannot stop a running forward pass; shutdown waits for it (see Backend)."""

    def preempt(self, thread: int) -> bool:
        """PyTorch cannot stop a running forward pass: the window runs to its end."""
        return False


@dataclass(frozen=True)
class _Features:
    """The text stage's output on the model's device: asr (1, 512, T), F0 and N (1, 2T), the
    decoder's half of the style (1, 128) and the harmonic source (1, 22, 120 T + 1)."""

    asr: torch.Tensor
    f0: torch.Tensor
    n: torch.Tensor
    style: torch.Tensor
    source: torch.Tensor
