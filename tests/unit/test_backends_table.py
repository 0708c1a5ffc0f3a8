"""One table of backends with their requirements: choosing, checking, preparing and warming up a
backend all read it, so a new backend is one entry (and its module) and no backend is a special
case anywhere else."""

from __future__ import annotations

import re
from pathlib import Path
from typing import get_args

import pytest

import tts_service
from tts_service import backends
from tts_service.assets import AssetError, ModelFiles
from tts_service.backends import (
    BACKENDS,
    BackendName,
    BackendSpec,
    load_backend,
    prepare_backend,
    resolve_backend_name,
    warmup_by_default,
)
from tts_service.config import Settings

from .standin import StandInBackend

HERE = "tests.unit.test_backends_table"
FILES = ModelFiles(model=Path("model.onnx"), voices=Path("voices.bin"))
asked: list[str] = []
prepared: list[bool] = []


def make_standin(settings: Settings, files: ModelFiles) -> StandInBackend:
    return StandInBackend(name="fancy")


def accelerator_here() -> bool:
    asked.append("fancy")
    return True


def prepare_fancy(settings: Settings, *, build: bool) -> None:
    prepared.append(build)


FANCY = BackendSpec(
    f"{HERE}:make_standin",
    extra="fancy",
    modules=("pytest",),  # installed
    accelerator=f"{HERE}:accelerator_here",
    warmup=True,
    prepare=f"{HERE}:prepare_fancy",
)


@pytest.fixture
def table(monkeypatch: pytest.MonkeyPatch) -> dict[str, BackendSpec]:
    """The real table's base backend, and a new one added as a single entry."""
    asked.clear()
    prepared.clear()
    table = {"onnx": BACKENDS["onnx"], "fancy": FANCY}
    monkeypatch.setattr(backends, "BACKENDS", table)
    return table


def test_the_setting_offers_auto_and_the_tables_backends() -> None:
    assert get_args(BackendName) == tuple(BACKENDS)
    assert get_args(Settings.model_fields["backend"].annotation) == ("auto", *BACKENDS)


def test_a_new_entry_is_loaded_prepared_and_warmed_up(table: dict[str, BackendSpec]) -> None:
    settings = Settings().model_copy(update={"backend": "fancy"})
    assert load_backend(settings, FILES).name == "fancy"
    prepare_backend(settings, "fancy", build=True)
    assert prepared == [True]
    assert warmup_by_default("fancy") and Settings().warmup_for("fancy")
    assert not warmup_by_default("onnx") and not warmup_by_default("not-in-the-table")


def test_auto_picks_a_backend_that_finds_its_accelerator(
    table: dict[str, BackendSpec], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(backends, "_gpu_driver_present", lambda: True)
    assert resolve_backend_name("auto") == "fancy"
    assert asked == ["fancy"]


def test_without_a_gpu_driver_auto_asks_no_backend_and_takes_the_base_one(
    table: dict[str, BackendSpec], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(backends, "_gpu_driver_present", lambda: False)
    assert resolve_backend_name("auto") == "onnx"
    assert asked == []


def test_a_backend_whose_extra_is_missing_says_how_to_install_it(
    table: dict[str, BackendSpec], monkeypatch: pytest.MonkeyPatch
) -> None:
    missing = BackendSpec(f"{HERE}:make_standin", extra="fancy", modules=("no_such_module_here",))
    monkeypatch.setitem(table, "fancy", missing)
    monkeypatch.setattr(backends, "_gpu_driver_present", lambda: True)
    assert resolve_backend_name("auto") == "onnx"  # not installed: never chosen by auto
    message = "The fancy backend needs the fancy extra: pip install -e '.\\[fancy\\]' "
    with pytest.raises(AssetError, match=message + r"\(or set TTS_BACKEND=onnx\)\."):
        prepare_backend(Settings(), "fancy", build=False)


def test_no_backend_is_a_special_case_outside_the_backends_package() -> None:
    """Comparisons with a backend's name were in the CLI and the settings; the table says it."""
    package = Path(tts_service.__file__).parent
    names = "|".join(map(re.escape, BACKENDS))
    special = re.compile(rf"""[=!]=\s*["']({names})["']|["']({names})["']\s*[=!]=""")
    for path in package.rglob("*.py"):
        if "backends" not in path.relative_to(package).parts:
            assert not special.search(path.read_text()), path
