"""Model files: assembled from the installed PyPI parts, verified, cached, and clear when broken."""

from __future__ import annotations

import errno
import io
import os
import tarfile
from pathlib import Path

import numpy as np
import pytest

from tts_service import assets
from tts_service.assets import AssetError, ensure_assets, verify_model, verify_voices
from tts_service.config import Settings


def test_missing_model_says_how_to_fix_it(tmp_path: Path) -> None:
    with pytest.raises(AssetError, match="tts-service fetch"):
        verify_model(tmp_path / assets.MODEL_NAME)


def test_corrupt_model_of_the_right_size_is_detected_by_its_hash(tmp_path: Path) -> None:
    path = tmp_path / assets.MODEL_NAME
    with path.open("wb") as f:
        f.truncate(assets.MODEL_SIZE)
    with pytest.raises(AssetError, match="corrupt"):
        verify_model(path)


def test_corrupt_cached_model_is_rebuilt_from_the_installed_parts(tmp_path: Path) -> None:
    voices = tmp_path / "voices.npz"
    np.savez(voices, af_heart=np.zeros(assets.VOICE_SHAPE, np.float32))
    (tmp_path / assets.MODEL_NAME).write_bytes(b"not a model")
    settings = Settings(models_dir=tmp_path, voices_path=voices)

    files = ensure_assets(settings)

    assert files.model == tmp_path / assets.MODEL_NAME
    assert assets.sha256_of(files.model) == assets.MODEL_SHA256
    assert files.voices == voices  # user-supplied: verified, never replaced


def test_user_supplied_model_is_never_replaced(tmp_path: Path) -> None:
    settings = Settings(models_dir=tmp_path, model_path=tmp_path / "mine.onnx")
    with pytest.raises(AssetError, match="TTS_MODEL_PATH"):
        ensure_assets(settings)
    assert not (tmp_path / "mine.onnx").exists()


def _tarball(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def test_voices_are_read_from_the_kokoro_js_tarball_layout() -> None:
    heart = np.arange(510 * 256, dtype="<f4")
    data = _tarball(
        {
            "package/voices/af_heart.bin": heart.tobytes(),
            "package/voices/bm_fable.bin": np.ones(510 * 256, "<f4").tobytes(),
            "package/README.md": b"not a voice",
        }
    )
    voices = assets.voices_from_tarball(data)
    assert sorted(voices) == ["af_heart", "bm_fable"]
    assert voices["af_heart"].shape == (510, 1, 256)
    assert voices["af_heart"][1, 0, 0] == 256.0  # row-major: row n is values n*256 …


def test_malformed_voices_file_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "voices.npz"
    np.savez(path, af_heart=np.zeros((10, 256), np.float32))
    with pytest.raises(AssetError, match="malformed"):
        verify_voices(path)
    path.write_bytes(b"garbage")
    with pytest.raises(AssetError, match="unreadable"):
        verify_voices(path)


def test_an_unchanged_cached_model_is_hashed_once_a_changed_one_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Start-up speed: hashing the 92 MB model cost every start ~0.3 s."""
    voices = tmp_path / "voices.npz"
    np.savez(voices, af_heart=np.zeros(assets.VOICE_SHAPE, np.float32))
    settings = Settings(models_dir=tmp_path, voices_path=voices)
    ensure_assets(settings)  # assembles and verifies the model
    hashed: list[Path] = []
    real_sha256_of = assets.sha256_of
    monkeypatch.setattr(assets, "sha256_of", lambda p: hashed.append(p) or real_sha256_of(p))

    ensure_assets(settings)
    assert hashed == []  # unchanged since verified

    model = tmp_path / assets.MODEL_NAME
    with model.open("r+b") as f:  # same size, different content, newer mtime
        f.seek(1000)
        f.write(b"\0" * 16)
    files = ensure_assets(settings)
    assert hashed  # verified again, found corrupt, rebuilt
    assert real_sha256_of(files.model) == assets.MODEL_SHA256


def test_a_full_disk_while_writing_a_model_file_names_the_folder_and_asks_for_space(
    tmp_path: Path,
) -> None:
    """A full models volume used to end ``tts-service fetch`` with an OSError traceback."""
    target = tmp_path / assets.MODEL_NAME

    def full_disk(f: io.BufferedWriter) -> None:  # what write() does on a full disk
        f.write(b"part of a model")
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    with pytest.raises(AssetError) as raised:
        assets.atomic_write(target, full_disk)
    message = str(raised.value)
    assert f"Cannot write {target}: No space left on device" in message
    assert f"free some space in {tmp_path}" in message and "TTS_MODELS_DIR" in message
    assert list(tmp_path.iterdir()) == []  # no half-written file is left behind


def test_a_models_dir_that_is_a_file_says_to_remove_it(tmp_path: Path) -> None:
    """``TTS_MODELS_DIR`` naming a file used to end in a FileExistsError traceback."""
    voices = tmp_path / "voices.npz"
    np.savez(voices, af_heart=np.zeros(assets.VOICE_SHAPE, np.float32))
    in_the_way = tmp_path / "models"
    in_the_way.write_text("not a folder")

    with pytest.raises(AssetError) as raised:
        ensure_assets(Settings(models_dir=in_the_way, voices_path=voices))
    assert str(raised.value) == (
        f"Cannot create the models folder {in_the_way}: a file is in the way (File exists); "
        "remove that file or point TTS_MODELS_DIR at a folder."
    )
    assert in_the_way.read_text() == "not a folder"


def test_a_truncated_voices_file_says_to_delete_it_so_it_is_fetched_again(tmp_path: Path) -> None:
    """numpy raises zipfile.BadZipFile for a cut-off ``.npz``, which used to escape as a
    traceback instead of the usual one-line asset error."""
    path = tmp_path / assets.VOICES_NAME
    with path.open("wb") as f:
        np.savez(f, af_heart=np.zeros(assets.VOICE_SHAPE, np.float32))
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])

    with pytest.raises(AssetError) as raised:
        verify_voices(path)
    message = str(raised.value)
    assert message.startswith(f"Voices file {path} is unreadable, truncated or corrupt")
    assert message.endswith("delete it and run `tts-service fetch` to (re)build it.")
    with pytest.raises(AssetError, match="truncated"):  # a user-supplied file is not replaced
        ensure_assets(Settings(models_dir=tmp_path, voices_path=path))


def test_written_model_files_are_readable_by_any_user(tmp_path: Path) -> None:
    """A container may run as another uid than the one that fetched the models (OpenShift runs
    an arbitrary uid in group 0): mkstemp's 0600 made the model unreadable there."""
    target = tmp_path / "model.bin"
    assets.atomic_write(target, lambda f: f.write(b"weights"))
    assert target.read_bytes() == b"weights"
    assert target.stat().st_mode & 0o777 == 0o644


def test_a_copy_that_keeps_whole_seconds_still_counts_as_verified_and_keeps_its_stages(
    tmp_path: Path,
) -> None:
    """Docker's image layers keep modification times in whole seconds: a baked model whose
    fraction was dropped must not be hashed again, nor split again, by every container."""
    from tts_service.backends.onnx_stages import stage_paths

    model = tmp_path / "model.onnx"
    model.write_bytes(b"graph")
    os.utime(model, ns=(1_796_398_155_422_781_318,) * 2)
    assets.mark_verified(model)
    stages = stage_paths(model, tmp_path)
    os.utime(model, ns=(1_796_398_155_000_000_000,) * 2)  # as COPY --from leaves it
    assert assets.unchanged_since_verified(model)
    assert stage_paths(model, tmp_path) == stages
    os.utime(model, ns=(1_796_398_156_000_000_000,) * 2)  # changed a second later
    assert not assets.unchanged_since_verified(model)
    assert stage_paths(model, tmp_path) != stages
