"""Kokoro-82M on onnxruntime (CPU by default; any provider the installed onnxruntime offers)."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import numpy as np
import onnxruntime as ort
from kokoro_onnx.session import input_dtypes, resolve_providers

from tts_service.backends import SAMPLE_RATE

if TYPE_CHECKING:
    from tts_service.assets import ModelFiles
    from tts_service.config import Settings

logger = logging.getLogger(__name__)


class OnnxBackend:
    name = "onnx"
    sample_rate = SAMPLE_RATE

    def __init__(self, session: ort.InferenceSession) -> None:
        self._session = session
        self._dtypes = input_dtypes(session)
        # Older exports call the token input "tokens", newer ones "input_ids".
        self._tokens_input = "input_ids" if "input_ids" in self._dtypes else "tokens"

    @classmethod
    def from_settings(cls, settings: Settings, files: ModelFiles) -> OnnxBackend:
        options = ort.SessionOptions()
        # Several workers share this session, each running one inference on its own threads.
        options.intra_op_num_threads = settings.threads_per_inference
        providers = resolve_providers()
        logger.info(
            "Loading %s on onnxruntime %s (%s), %d thread(s) per inference",
            files.model, ort.__version__, providers, settings.threads_per_inference,
        )  # fmt: skip
        return cls(ort.InferenceSession(str(files.model), options, providers=providers))

    def synthesize(self, tokens: list[int], style: np.ndarray, speed: float) -> np.ndarray:
        inputs = {
            self._tokens_input: np.array([[0, *tokens, 0]], dtype=self._dtypes[self._tokens_input]),
            "style": np.asarray(style, dtype=self._dtypes["style"]).reshape(1, -1),
            "speed": np.array([speed], dtype=self._dtypes["speed"]),
        }
        audio = self._session.run(None, inputs)[0]
        return np.asarray(audio, dtype=np.float32).ravel()
