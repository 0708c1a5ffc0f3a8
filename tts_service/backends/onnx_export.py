"""An fp32 ONNX model exported from the PyTorch weights (``tts-service export-onnx``).

The export has the int8 model's signature, so the ONNX backend runs it unchanged
(``TTS_MODEL_PATH``): inputs ``tokens`` int64 [1, T] (0-padded at both ends), ``style`` float32
[1, 256] and ``speed`` float32 [1]; output ``audio`` float32, plus ``durations`` int64 [T] (the
predicted frames of each token, pads included), which lets the ONNX backend give word timestamps.

Like the int8 export it has no random operations: KModel's random initial phase and noise are
zero while tracing. Its inverse STFT is kokoro's ``CustomSTFT`` (convolutions, exportable, where
``torch.istft`` is not), and its audio is scaled to the int8 model's loudness.
"""

from __future__ import annotations

import contextlib
import io
import logging
from collections.abc import Iterator
from typing import TYPE_CHECKING

import torch
from kokoro.custom_stft import CustomSTFT

from tts_service.assets import atomic_write
from tts_service.backends.onnx import DURATIONS_OUTPUT
from tts_service.backends.torch_weights import ensure_weights, load_model

if TYPE_CHECKING:
    from pathlib import Path

    from kokoro.model import KModel

    from tts_service.config import Settings

logger = logging.getLogger(__name__)

FP32_NAME = "kokoro-v1.0-from-int8.fp32.onnx"
OPSET = 17
INT8_LOUDNESS = 1.24
"""Gain that gives the export the int8 model's loudness (RMS ratio 0.82–0.84 on three sentences
without it at 1.5; ``CustomSTFT`` and the missing noise differ from ``torch.istft``)."""


class _Exported(torch.nn.Module):
    def __init__(self, model: KModel) -> None:
        super().__init__()
        self.model = model

    def forward(
        self, tokens: torch.Tensor, style: torch.Tensor, speed: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        audio, durations = self.model.forward_with_tokens(tokens, style, speed)  # type: ignore[arg-type]
        return audio * INT8_LOUDNESS, durations


@contextlib.contextmanager
def _without_randomness() -> Iterator[None]:
    """KModel's vocoder draws a random initial phase (``torch.rand``) and noise
    (``torch.randn_like``); traced as they are, every run of the export would sound different."""
    rand, randn_like = torch.rand, torch.randn_like

    def zeros(*size: int, device: torch.device | None = None, **_: object) -> torch.Tensor:
        return torch.zeros(*size, device=device)

    torch.rand = zeros  # type: ignore[assignment]
    torch.randn_like = lambda tensor, **_: torch.zeros_like(tensor)  # type: ignore[assignment]
    try:
        yield
    finally:
        torch.rand, torch.randn_like = rand, randn_like  # type: ignore[assignment]


def export_onnx(weights: Path, config: Path, target: Path) -> None:
    """Export KModel with ``weights`` to ``target`` (through a temporary file: never half a file)."""
    model = load_model(weights, config).eval()
    generator = model.decoder.generator
    stft = generator.stft
    generator.stft = CustomSTFT(
        filter_length=stft.filter_length, hop_length=stft.hop_length, win_length=stft.win_length
    )
    example = (torch.zeros((1, 12), dtype=torch.long), torch.zeros(1, 256), torch.ones(1))
    buffer = io.BytesIO()
    logger.info("Exporting %s (takes about half a minute)", target.name)
    with _without_randomness(), torch.inference_mode():
        torch.onnx.export(
            _Exported(model), example, buffer,  # type: ignore[arg-type]  # a file object works
            dynamo=False, opset_version=OPSET,
            input_names=["tokens", "style", "speed"], output_names=["audio", DURATIONS_OUTPUT],
            dynamic_axes={"tokens": {1: "sequence_length"}, "audio": {0: "audio_length"},
                          DURATIONS_OUTPUT: {0: "sequence_length"}},
        )  # fmt: skip
    atomic_write(target, lambda f: f.write(buffer.getvalue()))
    logger.info("Saved %s", target)


def ensure_fp32_onnx(settings: Settings) -> Path:
    """The fp32 export in ``TTS_MODELS_DIR``, exported from the PyTorch weights if missing (the
    weights are rebuilt from the int8 model first if they are missing too)."""
    target = settings.models_dir / FP32_NAME
    if not target.is_file():
        export_onnx(*ensure_weights(settings), target)
    return target
