"""The web player is ES modules without a build step: the page loads ``player.js`` as a module,
and every module it imports, directly or not, is one of the player's served files."""

from __future__ import annotations

import posixpath
import re

from fastapi.testclient import TestClient

from tts_service.routes.web import PLAYER_FILES

IMPORT = re.compile(r'^import\b[^;]*?from "([^"]+)";', re.MULTILINE | re.DOTALL)


def test_the_page_loads_the_player_as_a_module(client: TestClient) -> None:
    page = client.get("/").text
    assert '<script type="module" src="player.js"></script>' in page


def test_every_imported_module_is_served_as_javascript(client: TestClient) -> None:
    seen: set[str] = set()
    pending = ["/player.js"]
    while pending:
        url = pending.pop()
        if url in seen:
            continue
        seen.add(url)
        assert url in PLAYER_FILES, f"{url} is imported but not served"
        response = client.get(url)
        assert response.status_code == 200
        assert "javascript" in response.headers["content-type"]
        for target in IMPORT.findall(response.text):
            assert target.startswith(("./", "../")), target  # relative: no bare specifiers
            pending.append(posixpath.normpath(posixpath.join(posixpath.dirname(url), target)))
    assert len(seen) > 1  # one per playback path, and what they share
    assert {url for url in PLAYER_FILES if url.endswith(".js")} == seen  # nothing served unused
