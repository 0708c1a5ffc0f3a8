"""Kokoro-82M's PyTorch weights: rebuilt offline from the int8 ONNX export, loaded strictly.

Hugging Face (where hexgrad publishes ``kokoro-v1_0.pth``) is unreachable, so the state dict of
``kokoro.KModel`` is rebuilt from the initializers of ``kokoro-v1.0.int8.onnx``
(what that takes, as found by inspecting the export):

* int8 tensors are dequantized as ``(q - zero_point) * scale``, the zero point taken from the
  node that consumes the tensor (the export shares zero points between unrelated tensors);
* module paths come from initializer names or, for folded or anonymous weights, from the name of
  the consuming node (``/encoder/F0.0/conv1/Conv_quant`` → ``predictor.F0.0.conv1``);
* LSTM gates are reordered from ONNX's i, o, f, c to PyTorch's i, f, g, o;
* weight norm was folded into the weights: ``weight_v = W`` and ``weight_g = ‖W‖`` per output
  channel, except for channels that int8 rounding zeroed (``v = 1, g = 0``: dead in the ONNX too,
  and not NaN);
* what the export does not hold is set to what the export computes: AdaIN instance norms are
  plain (weight 1, bias 0), and the unused ALBERT pooler is zero.

Every KModel tensor is accounted for and shape-checked, the result is finite, and it is loaded
with ``strict=True`` (KModel's own loader silently falls back to a non-strict load).
"""

from __future__ import annotations

import importlib.util
import io
import logging
import re
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from tts_service.assets import (
    MODEL_NAME,
    AssetError,
    assemble_model,
    atomic_write,
    sha256_of,
    verify_model,
)

if TYPE_CHECKING:
    import torch
    from kokoro.model import KModel

    from tts_service.config import Settings

logger = logging.getLogger(__name__)

WEIGHTS_NAME = "kokoro-v1.0-from-int8.pth"
# The rebuild is deterministic: with torch==2.13.0 it always gives these bytes. Another torch
# version may serialize differently; the hash it wrote is recorded next to the file and accepted.
WEIGHTS_SHA256 = "8078a615df4ddb5a8b3e483124dcf99741742cebcc455aed2ce64c8d6247ee30"
CONVERT_HINT = "run `tts-service convert` to rebuild them from the ONNX model"
REPO_ID = "hexgrad/Kokoro-82M"  # a name only: KModel downloads nothing when given local files
TOP_LEVEL = ("bert", "bert_encoder", "predictor", "text_encoder", "decoder")
# KModel tensors the export has no counterpart for, and the value that reproduces the export.
_DEFAULTS = (
    (re.compile(r"^bert\.pooler\."), 0.0),  # unused by Kokoro
    (re.compile(r"\.(adain\d|norm\d)\.\d*\.?norm\.weight$"), 1.0),  # AdaIN: plain instance norm
    (re.compile(r"\.(adain\d|norm\d)\.\d*\.?norm\.bias$"), 0.0),
)
_LSTM_GATES = (0, 2, 3, 1)  # PyTorch's i, f, g, o as blocks of ONNX's i, o, f, c


def default_config_path() -> Path:
    """The Kokoro-82M v1.0 ``config.json`` that ships inside the ``kokoro_onnx`` package."""
    spec = importlib.util.find_spec("kokoro_onnx")
    if spec is None or not spec.submodule_search_locations:
        raise AssetError("kokoro-onnx is not installed; reinstall the service (`pip install .`).")
    return Path(next(iter(spec.submodule_search_locations))) / "config.json"


def skeleton(config: Path) -> KModel:
    """A KModel with random weights, built from a local config without touching the network."""
    import torch
    from kokoro.model import KModel

    empty = io.BytesIO()
    torch.save({}, empty)
    empty.seek(0)
    return KModel(repo_id=REPO_ID, config=str(config), model=empty).eval()  # type: ignore[arg-type]


def _array(initializers: dict, name: str) -> np.ndarray:
    from onnx import numpy_helper

    return numpy_helper.to_array(initializers[name])


def _module_path(node_name: str, modules: set[str]) -> str | None:
    """``/encoder/text_encoder/cnn.0/cnn.0.0/Conv_quant`` → ``text_encoder.cnn.0.0``; None for
    the export's own helpers (its STFT basis), which KModel computes instead of storing."""
    parts = node_name.strip("/").split("/")[:-1]
    parts = ["decoder", *parts[2:]] if parts[:2] == ["decoder", "decoder"] else parts[1:]
    path: list[str] = []
    for part in parts:
        part = re.sub(r"_\d+$", "", part)  # the shared ALBERT layer's 2nd..12th use: query_3
        if path and part.startswith(path[-1] + "."):
            path[-1] = part
        else:
            path.append(part)
    name = ".".join(path)
    for candidate in (name, f"predictor.{name}"):  # F0/N/shared are traced outside predictor
        if candidate in modules:
            return candidate
    return None


def _named_key(name: str) -> str:
    """``decoder.decoder.encode.conv1.bias`` → ``decoder.encode.conv1.bias``; ``encoder.`` dropped."""
    if name.startswith("decoder.decoder."):
        return "decoder." + name.removeprefix("decoder.decoder.")
    return name.removeprefix("encoder.")


def _dequantize(q: np.ndarray, zero_point: np.ndarray, scale: np.ndarray) -> np.ndarray:
    return (q.astype(np.float32) - zero_point.astype(np.float32)) * scale.astype(np.float32)


def _weight_norm(path: str, weight: np.ndarray) -> Iterator[tuple[str, np.ndarray]]:
    """Unfold weight norm: v = W, g = ‖W‖ over all but dim 0; zeroed channels get v = 1, g = 0."""
    norm = np.sqrt((weight.astype(np.float64) ** 2).reshape(weight.shape[0], -1).sum(axis=1))
    dead = norm == 0
    v = weight.copy()
    v[dead] = 1.0
    yield f"{path}.weight_v", v
    yield f"{path}.weight_g", norm.astype(np.float32).reshape(-1, *([1] * (weight.ndim - 1)))


def _conv(path: str, weight: np.ndarray, keys: set[str]) -> Iterator[tuple[str, np.ndarray]]:
    if f"{path}.weight_v" in keys:
        yield from _weight_norm(path, weight)
    else:
        yield f"{path}.weight", weight


def _lstm(path: str, node, inits: dict) -> Iterator[tuple[str, np.ndarray]]:  # noqa: ANN001
    def gates(x: np.ndarray) -> np.ndarray:
        return np.concatenate([np.split(x, 4, axis=0)[g] for g in _LSTM_GATES], axis=0)

    w = _dequantize(
        _array(inits, node.input[1]),
        _array(inits, node.input[9])[:, None, None],
        _array(inits, node.input[8])[:, None, None],
    )
    r = _dequantize(
        _array(inits, node.input[2]),
        _array(inits, node.input[11])[:, None, None],
        _array(inits, node.input[10])[:, None, None],
    )
    bias = _array(inits, node.input[3])
    for direction, suffix in enumerate(("_l0", "_l0_reverse")):
        b_ih, b_hh = np.split(bias[direction], 2)
        yield f"{path}.weight_ih{suffix}", gates(w[direction].T)
        yield f"{path}.weight_hh{suffix}", gates(r[direction].T)
        yield f"{path}.bias_ih{suffix}", gates(b_ih)
        yield f"{path}.bias_hh{suffix}", gates(b_hh)


def _from_onnx(model_path: Path, keys: set[str]) -> Iterator[tuple[str, np.ndarray]]:
    """(KModel key, tensor) for everything the ONNX graph holds; keys may repeat (shared)."""
    import onnx

    graph = onnx.load(str(model_path)).graph
    inits = {init.name: init for init in graph.initializer}
    modules = {key.rsplit(".", n)[0] for key in keys for n in range(1, key.count(".") + 1)}
    dequantizers = {
        node.input[0]: node for node in graph.node if node.op_type == "DequantizeLinear"
    }

    for name in inits:  # named float tensors: biases, norms, alphas
        key = _named_key(name)
        if key in keys and inits[name].data_type == onnx.TensorProto.FLOAT:
            yield key, _array(inits, name)

    for node in graph.node:
        op, weight = node.op_type, node.input[1] if len(node.input) > 1 else ""
        path = _module_path(node.name, modules)
        if path is None:
            continue
        if op in ("ConvInteger", "MatMulInteger"):
            scale = _array(inits, weight.removesuffix("_quantized") + "_scale")
            w = _dequantize(_array(inits, weight), _array(inits, node.input[3]), scale)
            if op == "MatMulInteger":
                yield f"{path}.weight", w.T
            else:
                yield from _conv(path, w, keys)
        elif op in ("Conv", "ConvTranspose") and weight in inits:
            yield from _conv(path, _array(inits, weight), keys)
        elif op == "MatMul" and weight in inits:
            yield f"{path}.weight", _array(inits, weight).T
        elif op == "DynamicQuantizeLSTM":
            yield from _lstm(path, node, inits)
        elif op == "Gather" and node.input[0] in inits and node.output[0] in dequantizers:
            dq = dequantizers[node.output[0]]
            w = _dequantize(
                _array(inits, node.input[0]), _array(inits, dq.input[2]), _array(inits, dq.input[1])
            )
            yield f"{path}.weight", w


def convert(onnx_path: Path, config: Path) -> dict[str, dict[str, torch.Tensor]]:
    """The KModel state dict rebuilt from the int8 ONNX model, by top-level module; verified."""
    import torch

    model = skeleton(config)
    expected = {key: tuple(t.shape) for key, t in model.state_dict().items()}
    mapped: dict[str, np.ndarray] = {}
    for key, value in _from_onnx(onnx_path, set(expected)):
        if key not in expected:
            continue
        if tuple(value.shape) != expected[key]:
            raise AssetError(
                f"{key}: ONNX gives shape {value.shape}, KModel needs {expected[key]}."
            )
        mapped.setdefault(key, np.ascontiguousarray(value, dtype=np.float32))
    for key in set(expected) - set(mapped):
        fill = next((value for pattern, value in _DEFAULTS if pattern.search(key)), None)
        if fill is None:
            raise AssetError(f"The ONNX model has no counterpart for KModel tensor {key}.")
        mapped[key] = np.full(expected[key], fill, dtype=np.float32)
    state: dict[str, dict[str, torch.Tensor]] = {top: {} for top in TOP_LEVEL}
    for key in expected:  # KModel's own order: the saved file is byte-for-byte reproducible
        top, _, rest = key.partition(".")
        state[top][rest] = torch.from_numpy(np.array(mapped[key], dtype=np.float32))
    verify(state, model)
    return state


def verify(state: dict[str, dict[str, torch.Tensor]], model: KModel) -> None:
    """Every tensor finite, and a strict load into ``model`` succeeds (raises AssetError)."""
    import torch

    for top, tensors in state.items():
        for key, tensor in tensors.items():
            if not torch.isfinite(tensor).all():
                raise AssetError(f"{top}.{key} has NaN or Inf values; rebuild the weights.")
    if set(state) != set(TOP_LEVEL):
        raise AssetError(f"Weights hold modules {sorted(state)}, KModel needs {list(TOP_LEVEL)}.")
    for top in TOP_LEVEL:
        try:
            getattr(model, top).load_state_dict(state[top], strict=True)
        except RuntimeError as exc:
            raise AssetError(f"The weights do not fit KModel.{top}: {exc}") from exc


def read_state(path: Path) -> dict[str, dict[str, torch.Tensor]]:
    """A saved state dict; hexgrad's ``kokoro-v1_0.pth`` prefixes keys with ``module.``."""
    import torch

    try:
        raw = torch.load(path, map_location="cpu", weights_only=True)
    except (OSError, RuntimeError, EOFError) as exc:
        raise AssetError(f"Cannot read PyTorch weights {path} ({exc}).") from exc
    return {
        top: {key.removeprefix("module."): tensor for key, tensor in tensors.items()}
        for top, tensors in raw.items()
    }


def load_model(weights: Path, config: Path) -> KModel:
    """KModel with ``weights`` loaded strictly (never KModel's silent non-strict fallback)."""
    model = skeleton(config)
    verify(read_state(weights), model)
    return model


def build_weights(onnx_path: Path, target: Path, config: Path) -> None:
    """Rebuild, verify and save the weights (through a temporary file: never half a file)."""
    import torch

    logger.info("Rebuilding PyTorch weights from %s (takes about half a minute)", onnx_path.name)
    state = convert(onnx_path, config)
    buffer = io.BytesIO()  # not the file itself: torch.save would record its name in the archive
    torch.save(state, buffer)
    atomic_write(target, lambda f: f.write(buffer.getvalue()))
    logger.info("Saved %s", target)


def prepare(settings: Settings, *, build: bool) -> None:
    """The torch backend's files (its entry in the backends table): the weights built (``build``)
    or checked, then loaded strictly once, so weights that do not fit KModel fail here."""
    load_model(*ensure_weights(settings, build=build))


def ensure_weights(settings: Settings, *, build: bool = True) -> tuple[Path, Path]:
    """(weights, config) for KModel: the user's files if given, else the rebuilt cache (built
    from the cached int8 ONNX model when missing or corrupt and ``build`` is set)."""
    config = settings.torch_config_path or default_config_path()
    if not config.is_file():
        raise AssetError(f"Kokoro config {config} does not exist; fix TTS_TORCH_CONFIG_PATH.")
    if settings.torch_weights_path is not None:
        if not settings.torch_weights_path.is_file():
            raise AssetError(
                f"PyTorch weights {settings.torch_weights_path} do not exist; fix "
                "TTS_TORCH_WEIGHTS_PATH or unset it to use weights rebuilt from the ONNX model."
            )
        return settings.torch_weights_path, config
    target = settings.models_dir / WEIGHTS_NAME
    record = target.with_name(target.name + ".sha256")  # what this machine's torch wrote
    if target.is_file():
        known = {WEIGHTS_SHA256, record.read_text().strip() if record.is_file() else ""}
        if sha256_of(target) in known:
            return target, config
    if not build:
        raise AssetError(f"PyTorch weights {target} are missing or corrupt; {CONVERT_HINT}.")
    source = settings.models_dir / MODEL_NAME
    try:
        verify_model(source)
    except AssetError:
        assemble_model(source)
    build_weights(source, target, config)
    if (actual := sha256_of(target)) != WEIGHTS_SHA256:
        logger.warning(
            "Rebuilt %s has SHA-256 %s, not %s: another torch version serializes differently",
            target, actual, WEIGHTS_SHA256,
        )  # fmt: skip
    atomic_write(record, lambda f: f.write(actual.encode()))
    return target, config
