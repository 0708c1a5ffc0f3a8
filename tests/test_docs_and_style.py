"""The README's commands are the ones CI runs, the configuration reference in the docs is
generated from Settings, and the code is lint-clean."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tts_service.config import Settings
from tts_service.config_reference import PAGE, REGENERATE, generated_block, settings_markdown

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()


def readme_commands() -> list[str]:
    section = README.split("## The two commands", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```sh\n(.+?)\n```", section)


def test_readme_has_a_serve_and_a_test_command() -> None:
    serve, test = readme_commands()
    assert "tts-service serve" in serve
    assert "pytest" in test


def test_ci_runs_the_readme_test_command_verbatim() -> None:
    _, test = readme_commands()
    assert test in (ROOT / ".ci" / "run").read_text().splitlines()


@pytest.mark.parametrize("field", sorted(Settings.model_fields))
def test_every_setting_has_a_docstring(field: str) -> None:
    assert Settings.model_fields[field].description, (
        f"Settings.{field} needs a docstring under it: it is the setting's documentation."
    )


def test_the_configuration_reference_is_generated_from_settings() -> None:
    assert generated_block((ROOT / PAGE).read_text()) == settings_markdown(), (
        f"{PAGE} is out of date; regenerate it with `{REGENERATE}`."
    )


def test_the_configuration_page_names_the_command_that_regenerates_it() -> None:
    assert REGENERATE in (ROOT / PAGE).read_text()


@pytest.mark.skipif(shutil.which("ruff") is None, reason="ruff is installed by the test extra")
@pytest.mark.parametrize("command", [["ruff", "check", "."], ["ruff", "format", "--check", "."]])
def test_code_is_lint_clean(command: list[str]) -> None:
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.skipif(shutil.which("mypy") is None, reason="mypy is installed by the dev extra")
def test_the_package_type_checks() -> None:
    """mypy over ``tts_service/`` with the settings in pyproject.toml."""
    result = subprocess.run(["mypy"], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
