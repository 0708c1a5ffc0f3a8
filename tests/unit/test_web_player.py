"""The web player: package data of ``tts_service``, served at ``/``; without its files the API
still works and one warning says why the player is missing. Its controls match the API."""

from __future__ import annotations

import logging
import re
from pathlib import Path

import pytest
from annotated_types import Ge, Le
from fastapi import FastAPI
from fastapi.testclient import TestClient

import tts_service
from tts_service.app import create_app
from tts_service.config import Settings
from tts_service.routes.web import PLAYER_DIR, PLAYER_FILES, READER_FILES
from tts_service.schemas import SpeechRequest

from .conftest import wait_until_ready
from .standin import StandInBackend, make_voice_store


def test_the_player_files_live_inside_the_package() -> None:
    package = Path(tts_service.__file__).resolve().parent
    assert package / "web" == PLAYER_DIR
    assert all((PLAYER_DIR / name).is_file() for name in PLAYER_FILES.values())
    assert all((PLAYER_DIR / name).is_file() for name in READER_FILES.values())


def test_the_reader_and_the_player_link_to_each_other(client: TestClient) -> None:
    page = client.get("/reader")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert '<a href="/">' in page.text
    assert '<a href="/reader">' in client.get("/").text
    vendored = client.get("/vendor/browser-id3-writer/browser-id3-writer.mjs")
    assert "javascript" in vendored.headers["content-type"]
    assert "export{f as ID3Writer}" in vendored.text


def test_without_the_reader_files_the_player_is_still_served(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    for name in PLAYER_FILES.values():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("")
    with (
        caplog.at_level(logging.INFO, logger="tts_service"),
        TestClient(_app_serving(tmp_path)) as client,
    ):
        wait_until_ready(client)
        assert client.get("/").status_code == 200
        assert client.get("/reader").status_code == 404
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1, warnings
    assert "article reader is not served" in warnings[0]


def test_the_player_is_served_at_the_root(client: TestClient) -> None:
    page = client.get("/")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert '<textarea id="text"' in page.text
    script = client.get("/player.js")
    assert script.status_code == 200
    assert "javascript" in script.headers["content-type"]
    style = client.get("/style.css")
    assert style.status_code == 200
    assert style.headers["content-type"].startswith("text/css")
    assert client.head("/").status_code == 200


def test_without_the_player_files_one_warning_says_so_and_the_api_works(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / "index.html").write_text("<!doctype html>")  # player.js and style.css are missing
    with (
        caplog.at_level(logging.INFO, logger="tts_service"),
        TestClient(_app_serving(tmp_path)) as client,
    ):
        wait_until_ready(client)
        assert client.get("/v1/models").status_code == 200
        assert client.get("/").status_code == 404
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1, warnings
    assert "web player is not served" in warnings[0]
    assert "player.js, style.css missing" in warnings[0]


def slider(name: str) -> dict[str, str]:
    """The attributes of the player's ``<input id=name>``."""
    html = (PLAYER_DIR / "index.html").read_text()
    tag = re.search(rf'<input id="{name}"[^>]*>', html)
    assert tag is not None, name
    return dict(re.findall(r'(\w+)="([^"]*)"', tag.group(0)))


def test_the_speed_slider_covers_the_apis_whole_range() -> None:
    """It stopped at 0.5 and 2 while the API takes 0.25 to 4."""
    bounds = {type(m): m for m in SpeechRequest.model_fields["speed"].metadata}
    attributes = slider("speed")
    assert float(attributes["min"]) == bounds[Ge].ge
    assert float(attributes["max"]) == bounds[Le].le
    assert float(attributes["value"]) == SpeechRequest.model_fields["speed"].default


def test_the_opening_text_tells_a_visitor_what_to_try() -> None:
    html = (PLAYER_DIR / "index.html").read_text()
    text = re.search(r'<textarea id="text"[^>]*>(.*?)</textarea>', html, re.DOTALL)
    assert text is not None
    assert "press Play" in text.group(1)
    assert "Mediclinic" not in html


def _app_serving(player_dir: Path) -> FastAPI:
    """The app with the stand-in model, serving the web player from ``player_dir``."""
    return create_app(
        Settings(warmup=False), backend=StandInBackend(), voices=make_voice_store(),
        player_dir=player_dir,
    )  # fmt: skip
