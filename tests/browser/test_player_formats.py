"""The player's format menu is the server's table (``GET /v1/audio/formats``), not a copy."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.integration.conftest import RunningServer

pytestmark = [pytest.mark.browser, pytest.mark.timeout(120)]


def test_the_format_menu_lists_the_servers_formats(
    open_player: Any, web_server: RunningServer
) -> None:
    listing = httpx.get(f"{web_server.url}/v1/audio/formats", timeout=10).json()
    player = open_player()
    options = player.page.eval_on_selector_all("#format option", "els => els.map(e => e.value)")
    assert options == ["auto"] + [card["id"] for card in listing["formats"]]
    hint = player.page.inner_text("#format-hint")
    assert f"Streams {listing['default']} into the audio element (MSE)." == hint
    assert player.errors == []
