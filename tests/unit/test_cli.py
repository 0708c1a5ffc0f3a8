"""The command line: bad settings, a busy port and asset errors as one line and an exit status,
``--version``, ``--help``; the small commands around the server: ``healthcheck`` (for containers) and
``settings``."""

from __future__ import annotations

import importlib.metadata
import os
import re
import resource
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.helpers import free_port
from tts_service.assets import MODEL_NAME
from tts_service.cli import main
from tts_service.config import Settings
from tts_service.config_reference import BEGIN, END, generated_block, settings_markdown

ROOT = Path(__file__).resolve().parents[2]
LOG_RECORD = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d+ [A-Z]+ ")
"""A line of the log (``2026-01-01 12:00:00,000 INFO tts_service.assets: ...``)."""


def run_cli(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """``python -m tts_service ARGS`` as a user runs it: its own process, real exit status and
    stderr; this checkout's code (cwd), no TTS_* variable but ``env``."""
    clean = {k: v for k, v in os.environ.items() if not k.upper().startswith("TTS_")}
    return subprocess.run(
        [sys.executable, "-m", "tts_service", *args],
        cwd=ROOT, env={**clean, **env}, capture_output=True, text=True, timeout=60,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("args", "env", "line"),
    [
        (["--port", "99999"], {}, "error: --port='99999': must be an integer from 1 to 65535"),
        (["--port", "abc"], {}, "error: --port='abc': must be an integer from 1 to 65535"),
        ([], {"TTS_PORT": "abc"}, "error: TTS_PORT='abc': must be an integer from 1 to 65535"),
        (["--wyoming-port", "0"], {},
         "error: --wyoming-port='0': must be an integer from 1 to 65535"),
        ([], {"TTS_BACKEND": "tensorflow"},
         "error: TTS_BACKEND='tensorflow': must be one of auto, onnx, torch"),
        ([], {"TTS_MAX_STREAMS": "0"}, "error: TTS_MAX_STREAMS='0': must be an integer of at least 1"),
        (["--log-level", "loud"], {},
         "error: --log-level='loud': must be one of debug, info, warning, error"),
        ([], {"TTS_SEND_TIMEOUT": "0", "TTS_WARMUP": "maybe"},
         "error: TTS_SEND_TIMEOUT='0': must be a number greater than 0 and at most 3600; "
         "TTS_WARMUP='maybe': must be true or false"),
    ],
)  # fmt: skip
def test_a_bad_setting_is_one_line_naming_it_its_value_and_what_is_allowed_then_status_2(
    args: list[str], env: dict[str, str], line: str
) -> None:
    """pydantic's ValidationError used to end the command with a traceback."""
    result = run_cli("serve", "--no-fetch", *args, **env)
    assert result.returncode == 2
    assert result.stderr.splitlines() == [line], result.stderr
    assert "Traceback" not in result.stderr


def test_a_busy_port_is_one_line_and_status_1_before_anything_loads(tmp_path: Path) -> None:
    """The port used to be bound by uvicorn only after the model files were checked (and
    fetched) and the model had started loading."""
    with socket.socket() as other:  # another server, listening
        other.bind(("127.0.0.1", 0))
        other.listen()
        port = other.getsockname()[1]
        started = time.monotonic()
        result = run_cli(
            "serve", "--port", str(port), TTS_MODELS_DIR=str(tmp_path), TTS_LOG_LEVEL="debug"
        )
        elapsed = time.monotonic() - started
    assert result.returncode == 1, result.stderr
    (line,) = result.stderr.splitlines()
    assert line.startswith(f"error: 127.0.0.1:{port} is already in use"), line
    assert not list(tmp_path.iterdir())  # no model file fetched
    assert elapsed < 15


def test_a_busy_wyoming_port_is_one_line_naming_its_setting_and_status_1(tmp_path: Path) -> None:
    with socket.socket() as other:  # another server, listening
        other.bind(("127.0.0.1", 0))
        other.listen()
        port = other.getsockname()[1]
        result = run_cli(
            "serve", "--port", str(free_port()), "--wyoming-port", str(port),
            TTS_MODELS_DIR=str(tmp_path),
        )  # fmt: skip
    assert result.returncode == 1, result.stderr
    assert result.stderr.splitlines() == [
        f"error: 127.0.0.1:{port} is already in use (another server listens there); stop it or "
        "choose another port with --wyoming-port or TTS_WYOMING_PORT"
    ]
    assert not list(tmp_path.iterdir())  # no model file fetched


@pytest.mark.parametrize("command", ["fetch", "serve"])
def test_a_models_dir_that_is_a_file_is_one_line_and_status_2(command: str, tmp_path: Path) -> None:
    """Asset errors from the environment (a file where the models folder should be, a full
    disk, a truncated voices file) used to end in a traceback, unlike a missing or corrupt
    model file."""
    in_the_way = tmp_path / "models"
    in_the_way.write_text("not a folder")
    result = run_cli(command, TTS_MODELS_DIR=str(in_the_way), TTS_PORT=str(free_port()))
    assert result.returncode == 2, result.stderr
    not_logs = [line for line in result.stderr.splitlines() if not LOG_RECORD.match(line)]
    assert not_logs == [
        f"error: Cannot create the models folder {in_the_way}: a file is in the way (File "
        "exists); remove that file or point TTS_MODELS_DIR at a folder."
    ], result.stderr
    assert "Traceback" not in result.stderr


def test_a_full_models_volume_while_fetching_is_one_line_and_status_2(tmp_path: Path) -> None:
    """A full volume used to end ``tts-service fetch`` in an OSError traceback. A file size
    limit (RLIMIT_FSIZE, SIGXFSZ ignored so that writes fail) stands in for the full volume."""

    def full_volume() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (1 << 20, 1 << 20))

    clean = {k: v for k, v in os.environ.items() if not k.upper().startswith("TTS_")}
    result = subprocess.run(
        [sys.executable, "-m", "tts_service", "fetch"], cwd=ROOT, preexec_fn=full_volume,
        env={**clean, "TTS_MODELS_DIR": str(tmp_path)}, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 2, result.stderr
    not_logs = [line for line in result.stderr.splitlines() if not LOG_RECORD.match(line)]
    assert not_logs == [
        f"error: Cannot write {tmp_path / MODEL_NAME}: File too large; free some space in "
        f"{tmp_path} (the model files need about 130 MB) or point TTS_MODELS_DIR at a volume "
        "with room."
    ], result.stderr
    assert list(tmp_path.iterdir()) == []  # nothing half-written


def test_version_is_the_installed_packages() -> None:
    result = CliRunner().invoke(main, ["--version"])
    assert result.exit_code == 0
    assert result.output == f"tts-service {importlib.metadata.version('tts-service')}\n"


def test_serve_help_lists_the_log_levels() -> None:
    result = CliRunner().invoke(main, ["serve", "--help"])
    assert result.exit_code == 0
    help_text = " ".join(result.output.split())
    assert (
        "--log-level LEVEL debug, info, warning or error [TTS_LOG_LEVEL, default info]" in help_text
    )


@pytest.mark.parametrize("written", ["DEBUG", "Warning", "INFO"])
def test_a_log_level_is_read_in_any_case(written: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """``TTS_LOG_LEVEL=DEBUG`` was refused as not one of debug, info, warning or error."""
    monkeypatch.setenv("TTS_LOG_LEVEL", written)
    assert Settings().log_level == written.lower()


def test_healthcheck_fails_when_nothing_listens() -> None:
    with socket.socket() as s:  # a port that was free a moment ago
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    result = CliRunner().invoke(main, ["healthcheck", "--port", str(port), "--timeout", "2"])
    assert result.exit_code == 1
    assert "unhealthy" in result.output


def test_settings_rewrites_only_the_generated_block_of_a_page(tmp_path: Path) -> None:
    page = tmp_path / "configuration.md"
    page.write_text(f"# Title\n\nBefore.\n\n{BEGIN}\n| stale |\n{END}\n\nAfter.\n")
    result = CliRunner().invoke(main, ["settings", "--write", str(page)])
    assert result.exit_code == 0, result.output
    text = page.read_text()
    assert generated_block(text) == settings_markdown()
    assert text.startswith("# Title\n\nBefore.\n\n") and text.endswith(f"{END}\n\nAfter.\n")
    assert "`TTS_PORT`" in CliRunner().invoke(main, ["settings"]).output


def test_the_phonemizers_word_count_warning_is_filtered_and_others_are_not(
    caplog: pytest.LogCaptureFixture,
) -> None:
    import logging

    from phonemizer.logger import get_logger

    from tts_service.logs import configure_logging

    configure_logging("info")
    logger = get_logger("normal")  # what phonemizer does on each call: resets level, handlers
    with caplog.at_level(logging.WARNING, logger="phonemizer"):
        logger.warning("words count mismatch on 100.0%% of the lines (1/1)")
        logger.warning("something else")
    assert [r.getMessage() for r in caplog.records] == ["something else"]
