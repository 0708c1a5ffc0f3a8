"""The small commands around the server: ``healthcheck`` (for containers) and ``settings``."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from click.testing import CliRunner

from tts_service.cli import main
from tts_service.config_reference import BEGIN, END, generated_block, settings_markdown


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

    from tts_service.cli import _configure_logging

    _configure_logging("info")
    logger = get_logger("normal")  # what phonemizer does on each call: resets level, handlers
    with caplog.at_level(logging.WARNING, logger="phonemizer"):
        logger.warning("words count mismatch on 100.0%% of the lines (1/1)")
        logger.warning("something else")
    assert [r.getMessage() for r in caplog.records] == ["something else"]
