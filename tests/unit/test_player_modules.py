"""The web player and the article reader are ES modules without a build step: each page loads
its script as a module, and every module it imports, directly or not, is one of the served
files."""

from __future__ import annotations

import posixpath
import re

from fastapi.testclient import TestClient

from tts_service.routes.web import PLAYER_FILES, READER_FILES

IMPORT = re.compile(r'^import\b[^;]*?from "([^"]+)";', re.MULTILINE | re.DOTALL)


def test_the_page_loads_the_player_as_a_module(client: TestClient) -> None:
    page = client.get("/").text
    assert '<script type="module" src="player.js"></script>' in page


def imported(client: TestClient, entry: str, served: dict[str, str]) -> set[str]:
    """The URLs of ``entry`` and every module it imports, directly or not, each checked to be
    served as JavaScript."""
    seen: set[str] = set()
    pending = [entry]
    while pending:
        url = pending.pop()
        if url in seen:
            continue
        seen.add(url)
        assert url in served, f"{url} is imported but not served"
        response = client.get(url)
        assert response.status_code == 200
        assert "javascript" in response.headers["content-type"]
        for target in IMPORT.findall(response.text):
            assert target.startswith(("./", "../")), target  # relative: no bare specifiers
            pending.append(posixpath.normpath(posixpath.join(posixpath.dirname(url), target)))
    return seen


def test_every_imported_module_is_served_as_javascript(client: TestClient) -> None:
    seen = imported(client, "/player.js", PLAYER_FILES)
    assert len(seen) > 1  # one per playback path, and what they share
    assert {url for url in PLAYER_FILES if url.endswith(".js")} == seen  # nothing served unused


def test_the_reader_loads_its_modules_and_reuses_the_players(client: TestClient) -> None:
    """The reader imports the player's shared modules rather than a copy of them, and every
    script it serves is one it imports."""
    assert '<script type="module" src="reader.js"></script>' in client.get("/reader").text
    seen = imported(client, "/reader.js", {**PLAYER_FILES, **READER_FILES})
    scripts = {url for url in READER_FILES if url.endswith((".js", ".mjs"))}
    assert scripts == seen - set(PLAYER_FILES)
    assert {"/player/server.js", "/player/state.js", "/player/web-audio.js"} <= seen
