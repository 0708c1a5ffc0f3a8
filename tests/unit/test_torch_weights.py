"""The ONNX → PyTorch weight rebuild, piece by piece on small arrays (no model), and backend choice."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tts_service.assets import AssetError, sha256_of
from tts_service.backends import BACKENDS, resolve_backend_name
from tts_service.backends.torch_weights import (
    WEIGHTS_NAME,
    _dequantize,
    _module_path,
    _named_key,
    _weight_norm,
    ensure_weights,
)
from tts_service.config import Settings

MODULES = {
    "text_encoder.cnn.0.0",
    "predictor.F0.0.conv1",
    "predictor.shared",
    "decoder.asr_res.0",
    "bert.encoder.albert_layer_groups.0.albert_layers.0.attention.query",
}


@pytest.mark.parametrize(
    ("node", "module"),
    [
        ("/encoder/text_encoder/cnn.0/cnn.0.0/Conv_quant", "text_encoder.cnn.0.0"),
        ("/encoder/F0.0/conv1/Conv_quant", "predictor.F0.0.conv1"),  # traced outside predictor
        ("/encoder/shared/LSTM_quant", "predictor.shared"),
        ("/decoder/decoder/asr_res/asr_res.0/Conv_quant", "decoder.asr_res.0"),
        (  # the one ALBERT layer, used 12 times: the 4th use names the same weights
            "/encoder/bert/encoder/albert_layer_groups.0/albert_layers.0/attention/query_3/MatMul_quant",
            "bert.encoder.albert_layer_groups.0.albert_layers.0.attention.query",
        ),
        ("/decoder/decoder/generator/istft/stft/ConvTranspose", None),  # the export's own basis
    ],
)
def test_onnx_node_names_map_to_kmodel_modules(node: str, module: str | None) -> None:
    assert _module_path(node, MODULES) == module


def test_named_initializers_drop_the_export_prefixes() -> None:
    assert _named_key("decoder.decoder.encode.conv1.bias") == "decoder.encode.conv1.bias"
    assert _named_key("encoder.predictor.F0.1.pool.bias") == "predictor.F0.1.pool.bias"


def test_dequantize_subtracts_the_zero_point_then_scales() -> None:
    q = np.array([[0, 128, 255]], dtype=np.uint8)
    out = _dequantize(q, np.array(128, dtype=np.uint8), np.array(0.5, dtype=np.float32))
    np.testing.assert_array_equal(out, [[-64.0, 0.0, 63.5]])


def test_weight_norm_is_unfolded_and_dead_channels_stay_finite() -> None:
    """Regression: a channel zeroed by int8 rounding has ‖W‖ = 0; v = W there would make the
    weight-norm product 0/0 = NaN audio. Such channels get v = 1, g = 0 (zero, as in the ONNX)."""
    weight = np.array([[[3.0, 4.0]], [[0.0, 0.0]]], dtype=np.float32)  # (out=2, in=1, k=2)
    parts = dict(_weight_norm("conv", weight))
    v, g = parts["conv.weight_v"], parts["conv.weight_g"]
    assert g.shape == (2, 1, 1)
    np.testing.assert_allclose(g.ravel(), [5.0, 0.0])
    rebuilt = g * v / np.sqrt((v**2).sum(axis=(1, 2), keepdims=True))
    assert np.isfinite(rebuilt).all()
    np.testing.assert_allclose(rebuilt, weight)


def test_auto_picks_torch_only_with_cuda_and_every_name_is_in_the_table() -> None:
    torch = pytest.importorskip("torch", reason="the PyTorch backend comes with the test extra")

    assert resolve_backend_name("auto") == ("torch" if torch.cuda.is_available() else "onnx")
    assert resolve_backend_name("torch") == "torch"
    assert {"onnx", "torch"} <= set(BACKENDS)


def test_missing_user_weights_fail_with_a_hint(tmp_path: Path) -> None:
    settings = Settings(models_dir=tmp_path, torch_weights_path=tmp_path / "kokoro-v1_0.pth")
    with pytest.raises(AssetError, match="TTS_TORCH_WEIGHTS_PATH"):
        ensure_weights(settings)


def test_missing_cached_weights_are_not_built_when_told_not_to(tmp_path: Path) -> None:
    with pytest.raises(AssetError, match="tts-service convert"):
        ensure_weights(Settings(models_dir=tmp_path), build=False)


def test_cached_weights_are_reused_only_when_their_hash_is_known(tmp_path: Path) -> None:
    """Another torch version may serialize the same weights to other bytes: the hash recorded
    when they were built is accepted, any other file is treated as corrupt."""
    target = tmp_path / WEIGHTS_NAME
    target.write_bytes(b"weights written by another torch")
    with pytest.raises(AssetError, match="missing or corrupt"):
        ensure_weights(Settings(models_dir=tmp_path), build=False)
    (tmp_path / f"{WEIGHTS_NAME}.sha256").write_text(sha256_of(target))
    assert ensure_weights(Settings(models_dir=tmp_path), build=False)[0] == target


def test_auto_does_not_import_torch_without_a_gpu_driver(monkeypatch: pytest.MonkeyPatch) -> None:
    """Importing torch costs about 2 s of start-up and 150 MB; a CPU-only machine never pays it."""
    import subprocess
    import sys

    from tts_service import backends

    driver_here = backends._gpu_driver_present()
    monkeypatch.setattr(backends, "_gpu_driver_present", lambda: False)
    assert resolve_backend_name("auto") == "onnx"
    if sys.platform == "linux" and not driver_here:  # and in a fresh process on this machine
        check = "import sys; from tts_service.backends import resolve_backend_name as r; "
        check += "print(r('auto'), 'torch' in sys.modules)"
        out = subprocess.run([sys.executable, "-c", check], capture_output=True, text=True)
        assert out.stdout.split() == ["onnx", "False"], out.stderr
