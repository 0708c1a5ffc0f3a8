"""The built wheel is the whole service: installed into a fresh virtual environment, run from
outside the repository, it serves the API and the web player (package data) by itself."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.integration.conftest import start_server, stop_server
from tts_service.config import Settings

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.slow


def run(*command: str | Path, cwd: Path) -> str:
    result = subprocess.run(
        [str(part) for part in command], cwd=cwd, env=outside_env(), capture_output=True,
        text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def outside_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}


def build_wheel(tmp: Path) -> Path:
    """Built from a copy of what the package is made of, so the checkout gets no build/ or
    egg-info; offline, with the setuptools already installed."""
    source = tmp / "source"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    shutil.copytree(
        ROOT / "tts_service", source / "tts_service",
        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"),
    )  # fmt: skip
    dist = tmp / "dist"
    run(sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index",
        "-w", dist, source, cwd=tmp)  # fmt: skip
    (wheel,) = dist.glob("tts_service-*.whl")
    return wheel


def test_the_wheel_installed_in_a_fresh_venv_serves_the_api_and_the_player(
    tmp_path: Path, model_settings: Settings
) -> None:
    wheel = build_wheel(tmp_path)
    venv = tmp_path / "venv"
    # The heavy dependencies come from the system's site-packages (which also hold an editable
    # install of this checkout: the venv's own copy must win over it).
    run(sys.executable, "-m", "venv", "--system-site-packages", "--without-pip", venv, cwd=tmp_path)
    python = venv / "bin" / "python"
    run(python, "-m", "pip", "install", "--no-deps", "--no-index", "--ignore-installed",
        "--disable-pip-version-check", wheel, cwd=tmp_path)  # fmt: skip
    site = Path(run(python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))",
                    cwd=tmp_path).strip())  # fmt: skip
    imported = Path(
        run(python, "-c", "import tts_service; print(tts_service.__file__)", cwd=tmp_path).strip()
    )
    assert imported.is_relative_to(site / "tts_service"), imported
    assert not imported.is_relative_to(ROOT), imported

    server = start_server(
        # An inherited PYTHONPATH (a checkout run with one) would import that code instead.
        tmp_path, {"TTS_MODELS_DIR": str(model_settings.models_dir), "PYTHONPATH": ""},
        command=[str(venv / "bin" / "tts-service")], cwd=tmp_path,
    )  # fmt: skip
    try:
        page = httpx.get(f"{server.url}/", timeout=10)
        script = httpx.get(f"{server.url}/player.js", timeout=10)
    finally:
        stop_server(server)
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert '<textarea id="text"' in page.text
    assert script.status_code == 200 and "javascript" in script.headers["content-type"]
    assert "window.ttsPlayer" in script.text
    assert f"Web player served from {site / 'tts_service' / 'web'}" in server.log()
