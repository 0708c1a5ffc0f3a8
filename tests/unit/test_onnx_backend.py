"""The ONNX backend's start-up path, without loading the model: the provider choice, and the
optimized-graph cache on a tiny hand-made graph."""

from __future__ import annotations

import logging
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
from kokoro_onnx.session import resolve_providers

from tts_service.assets import sha256_of
from tts_service.backends import onnx as onnx_backend
from tts_service.backends.onnx import (
    _cpu_session,
    _providers,
    _warn_if_fallen_back,
    optimized_model_path,
)

WEIGHTS = np.random.default_rng(0).standard_normal((64, 64)).astype(np.float32)
ONES = np.ones((1, 64), np.float32)


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _field(number: int, value: int | bytes | str) -> bytes:
    """One protobuf field: a varint, or length-delimited bytes or text."""
    if isinstance(value, int):
        return _varint(number << 3) + _varint(value)
    data = value.encode() if isinstance(value, str) else value
    return _varint(number << 3 | 2) + _varint(len(data)) + data


def _float_tensor_info(name: str, dims: tuple[int, ...]) -> bytes:  # onnx ValueInfoProto
    shape = b"".join(_field(1, _field(1, d)) for d in dims)
    return _field(1, name) + _field(2, _field(1, _field(1, 1) + _field(2, shape)))


def matmul_model(weights: np.ndarray) -> bytes:
    """An ONNX model computing ``y = x @ weights``, encoded by hand (the ``onnx`` package comes
    only with the torch extra): a graph small enough to optimize in milliseconds."""
    n, m = weights.shape
    node = _field(1, "x") + _field(1, "w") + _field(2, "y") + _field(4, "MatMul")
    initializer = (
        _field(1, n) + _field(1, m) + _field(2, 1) + _field(8, "w")
        + _field(9, weights.astype("<f4").tobytes())
    )  # fmt: skip
    graph = (
        _field(1, node) + _field(2, "g") + _field(5, initializer)
        + _field(11, _float_tensor_info("x", (1, n))) + _field(12, _float_tensor_info("y", (1, m)))
    )  # fmt: skip
    return _field(1, 8) + _field(7, graph) + _field(8, _field(1, "") + _field(2, 17))


@pytest.fixture
def tiny_model(tmp_path: Path) -> Path:
    path = tmp_path / "tiny.onnx"
    path.write_bytes(matmul_model(WEIGHTS))
    return path


def test_the_provider_shortcut_agrees_with_kokoro_onnx(monkeypatch: pytest.MonkeyPatch) -> None:
    assert _providers() == resolve_providers()
    monkeypatch.setenv("ONNX_PROVIDER", "CPUExecutionProvider")
    assert _providers() == resolve_providers() == ["CPUExecutionProvider"]


def test_asking_for_cuda_preloads_its_libraries_from_the_nvidia_wheels(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """onnxruntime-gpu finds CUDA in the nvidia pip wheels only when torch was imported first or
    ``preload_dlls`` is called; the GPU image has no torch import before the ONNX backend."""
    calls: list[dict[str, bool]] = []
    monkeypatch.setattr(ort, "preload_dlls", lambda **kw: calls.append(kw), raising=False)
    monkeypatch.setenv("ONNX_PROVIDER", "CPUExecutionProvider")
    _providers()
    assert calls == []  # the CPU asked for: nothing to load
    monkeypatch.setenv("ONNX_PROVIDER", "CUDAExecutionProvider")  # as on a GPU with onnxruntime-gpu
    assert _providers() == ["CUDAExecutionProvider"]
    assert calls == [{"cuda": True, "cudnn": True, "msvc": False}]


def test_tensorrt_is_asked_for_only_by_name(monkeypatch: pytest.MonkeyPatch) -> None:
    """onnxruntime-gpu lists TensorRT, whose libraries the GPU image does not have."""
    gpu = ["TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"]
    monkeypatch.setattr(ort, "preload_dlls", lambda **_: None, raising=False)
    monkeypatch.setattr(onnx_backend.ort, "get_available_providers", lambda: gpu)
    monkeypatch.setattr("kokoro_onnx.session.rt.get_available_providers", lambda: gpu)
    monkeypatch.setattr("kokoro_onnx.session._installed", lambda name: name == "onnxruntime-gpu")
    assert _providers() == ["CUDAExecutionProvider", "CPUExecutionProvider"]
    monkeypatch.setenv("ONNX_PROVIDER", "TensorrtExecutionProvider")
    assert _providers() == ["TensorrtExecutionProvider"]


def test_a_preload_that_fails_is_a_warning_not_the_start(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def fail(**_: bool) -> None:
        raise OSError("libcublasLt.so.13: cannot open shared object file")

    monkeypatch.setattr(ort, "preload_dlls", fail, raising=False)
    with caplog.at_level(logging.WARNING):
        onnx_backend._preload_cuda()
    assert "libcublasLt.so.13" in caplog.text


def test_a_provider_that_did_not_start_is_said_to_have_fallen_back(
    tiny_model: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """onnxruntime quietly runs on the CPU when CUDA cannot start; the log must say so."""
    session = ort.InferenceSession(str(tiny_model), providers=["CPUExecutionProvider"])
    with caplog.at_level(logging.WARNING):
        _warn_if_fallen_back({"text": session}, ["CPUExecutionProvider"])
    assert caplog.text == ""
    with caplog.at_level(logging.WARNING):
        _warn_if_fallen_back({"text": session}, ["CUDAExecutionProvider", "CPUExecutionProvider"])
    assert "CUDAExecutionProvider was asked for but did not start" in caplog.text
    assert "text graph(s) run on the CPU" in caplog.text


def test_importing_the_backend_leaves_the_phonemizer_for_later() -> None:
    """Start-up builds the session while the phonemizer (about 0.35 s of imports) loads
    elsewhere; the backend module must not import it first."""
    check = "import sys, tts_service.backends.onnx; print('phonemizer' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", check], capture_output=True, text=True)
    assert out.stdout.strip() == "False", out.stderr


def test_a_cache_folder_that_cannot_be_written_costs_one_warning_not_the_start(
    tiny_model: Path, tmp_path: Path
) -> None:
    """onnxruntime fails the whole session when it cannot save the optimized graph: a full or
    tiny models volume stopped every start, though the model files were intact. A file size
    limit (RLIMIT_FSIZE, with SIGXFSZ ignored so that writes fail with EFBIG) stands in for the
    full disk, in a child process."""
    cache = tmp_path / "cache"
    cache.mkdir()
    child = textwrap.dedent(
        f"""
        import logging, resource, signal
        from pathlib import Path
        import numpy as np, onnxruntime as ort
        from tts_service.backends.onnx import _cpu_session

        logging.basicConfig(format="%(levelname)s %(name)s: %(message)s")
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (4096, 4096))  # the graph is 16 KiB
        session = _cpu_session(Path({str(tiny_model)!r}), Path({str(cache)!r}), ort.SessionOptions())
        (y,) = session.run(None, {{"x": np.ones((1, 64), np.float32)}})
        np.save({str(tmp_path / "y.npy")!r}, y)
        """
    )
    result = subprocess.run([sys.executable, "-c", child], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert np.allclose(np.load(tmp_path / "y.npy"), ONES @ WEIGHTS, atol=1e-4)
    warnings = [line for line in result.stderr.splitlines() if line.startswith("WARNING")]
    assert len(warnings) == 1, result.stderr
    assert "Running without the optimized-model cache" in warnings[0]
    assert list(cache.iterdir()) == []  # no partial graph left to load next time


def test_a_cached_graph_with_flipped_bytes_is_detected_removed_and_rebuilt(
    tiny_model: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The cached graph used to be loaded without a check: flipped bytes in its weights loaded
    silently and changed every output. Its SHA-256 is now recorded beside it and checked."""
    cache = tmp_path / "cache"
    cache.mkdir()
    _cpu_session(tiny_model, cache, ort.SessionOptions())
    optimized = optimized_model_path(tiny_model, cache)
    recorded = optimized.with_name(f"{optimized.name}.sha256")
    assert recorded.read_text() == sha256_of(optimized)
    good = optimized.read_bytes()
    middle = len(good) // 2  # inside the 16 KiB of weights
    optimized.write_bytes(good[:middle] + bytes(b ^ 0xFF for b in good[middle : middle + 64])
                          + good[middle + 64 :])  # fmt: skip

    with caplog.at_level(logging.WARNING, logger="tts_service"):
        session = _cpu_session(tiny_model, cache, ort.SessionOptions())
    (y,) = session.run(None, {"x": ONES})
    assert np.allclose(y, ONES @ WEIGHTS, atol=1e-4)
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == [
        f"The cached optimized model {optimized} does not match its recorded SHA-256; rebuilding it"
    ]
    assert optimized.read_bytes() == good  # rebuilt
    assert recorded.read_text() == sha256_of(optimized)


def test_an_unchanged_cached_graph_is_hashed_once(
    tiny_model: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Start-up speed: the check must not hash the ~90 MB graph on every start."""
    from tts_service.backends import onnx

    _cpu_session(tiny_model, tmp_path, ort.SessionOptions())
    hashed: list[Path] = []
    monkeypatch.setattr(onnx, "sha256_of", lambda path: hashed.append(path) or "")
    session = _cpu_session(tiny_model, tmp_path, ort.SessionOptions())
    assert hashed == []
    assert np.allclose(session.run(None, {"x": ONES})[0], ONES @ WEIGHTS, atol=1e-4)


def test_a_cached_graph_saved_before_hashes_were_recorded_is_rebuilt_once(
    tiny_model: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """An upgrade finds a cached graph with no SHA-256 beside it: it cannot be trusted, so it
    is rebuilt once, with a warning that says why."""
    _cpu_session(tiny_model, tmp_path, ort.SessionOptions())
    optimized = optimized_model_path(tiny_model, tmp_path)
    for sidecar in (f"{optimized.name}.sha256", f".{optimized.name}.verified"):
        optimized.with_name(sidecar).unlink()

    with caplog.at_level(logging.WARNING, logger="tts_service"):
        _cpu_session(tiny_model, tmp_path, ort.SessionOptions())
        _cpu_session(tiny_model, tmp_path, ort.SessionOptions())
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == [
        f"The cached optimized model {optimized} has no recorded SHA-256 (it was saved by an "
        "earlier version); rebuilding it"
    ]
    assert optimized.with_name(f"{optimized.name}.sha256").read_text() == sha256_of(optimized)


def test_a_graph_that_is_not_kokoros_runs_whole_without_durations(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A custom model the stage split does not fit still serves, whole, and says why."""
    from tts_service.backends.onnx import OnnxBackend

    model = tmp_path / "custom.onnx"
    model.write_bytes(matmul_model(WEIGHTS))
    with caplog.at_level(logging.WARNING, logger="tts_service"):
        backend = OnnxBackend.load(model, tmp_path, ort.SessionOptions())
    assert not backend.windowed and not backend.durations
    assert "whole, without streaming below the chunk" in caplog.text
    assert not list(tmp_path.glob("*.onnx.sha256"))  # no stages were kept
