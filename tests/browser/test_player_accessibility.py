"""The player page passes axe-core (tests/browser/accessibility.py) in Chromium and Firefox, idle
and after playing, and is operated by keyboard alone: the focus order, Play and Stop, and the
shortcuts its list documents.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.browser.accessibility import chromium_violations, describe, firefox_violations
from tests.browser.conftest import PHRASE, open_firefox_player, screenshot_path, wait_until
from tests.integration.conftest import RunningServer

pytestmark = [pytest.mark.browser, pytest.mark.timeout(240)]

FINISHED = "['done', 'error', 'stopped'].includes(window.ttsPlayer.state)"
STARTED = "window.ttsPlayer.firstPlaybackAt !== null || window.ttsPlayer.state === 'error'"
LONG_TEXT = " ".join(
    f"This is sentence number {n} of a long reply, so the server has plenty left to synthesize."
    for n in range(1, 21)
)

# An input nobody labelled: what the check must catch, so that a pass means something.
UNLABELLED = "document.querySelector('main').append(document.createElement('input'))"


def test_the_player_passes_axe_in_chromium_idle_and_after_playing(open_player: Any) -> None:
    player = open_player()
    idle = chromium_violations(player.page)
    assert not idle, describe(idle)

    player.page.fill("#text", PHRASE)
    player.page.click("#play")
    player.wait_for(FINISHED)
    assert player.state()["state"] == "done"
    played = chromium_violations(player.page)
    assert not played, describe(played)
    player.page.emulate_media(color_scheme="dark")  # the page's other palette
    dark = chromium_violations(player.page)
    assert not dark, describe(dark)
    assert player.errors == []

    player.page.evaluate(UNLABELLED)
    assert "label" in {v["id"] for v in chromium_violations(player.page)}


def test_the_player_passes_axe_in_firefox_idle_and_after_playing(
    firefox: Any, web_server: RunningServer
) -> None:
    from selenium.webdriver.common.by import By

    driver = firefox
    open_firefox_player(driver, web_server)
    idle = firefox_violations(driver)
    assert not idle, describe(idle)

    text = driver.find_element(By.ID, "text")
    text.clear()
    text.send_keys(PHRASE)
    driver.find_element(By.ID, "play").click()
    state = wait_until(
        lambda: (s := driver.execute_script("return window.ttsPlayer.state")) in (
            "done", "error", "stopped",
        ) and s,
        90,
        "the end of playback in Firefox",
    )  # fmt: skip
    assert state == "done"
    played = firefox_violations(driver)
    assert not played, describe(played)

    driver.execute_script(UNLABELLED)
    assert "label" in {v["id"] for v in firefox_violations(driver)}


def focused(page: Any) -> str:
    """The focused element: its id, or its tag when it has none."""
    return str(page.evaluate("document.activeElement.id || document.activeElement.tagName"))


def test_the_player_is_operated_by_keyboard_alone(open_player: Any) -> None:
    player = open_player()
    page = player.page
    # The shortcut list is the table the keys obey; ? goes to it, / to the text.
    rows = page.eval_on_selector_all("#shortcuts > div", "els => els.map(e => e.innerText)")
    assert len(rows) == 5 and any("Esc" in row for row in rows)
    page.keyboard.press("?")
    assert focused(page) == "shortcuts-title"
    page.keyboard.press("/")
    assert focused(page) == "text"
    assert page.input_value("#text").startswith("Type anything")  # the key was not typed

    # Tab walks the form in reading order (Stop is disabled, Download has nothing yet).
    page.keyboard.press("Control+A")
    page.keyboard.type(LONG_TEXT)
    order = []
    for _ in range(8):
        page.keyboard.press("Tab")
        order.append(focused(page))
    assert order == [
        "shortcuts-link", "voice", "blend", "add-to-blend", "format", "speed", "SUMMARY", "play",
    ]  # fmt: skip

    # Enter on Play plays; Stop is next in the order, and Enter on it stops.
    page.keyboard.press("Enter")
    player.wait_for(STARTED)
    assert player.state()["state"] == "playing"
    page.keyboard.press("Tab")
    assert focused(page) == "stop"
    page.keyboard.press("Enter")
    assert player.state()["state"] == "stopped"
    assert focused(page) == "play"  # focus is not lost with the disabled Stop

    # The shortcuts: Ctrl+Enter plays from the text box, Esc stops.
    page.keyboard.press("/")
    page.keyboard.press("Control+Enter")
    player.wait_for(STARTED)
    assert player.state()["state"] == "playing" and player.state()["runs"] == 2
    page.keyboard.press("Escape")
    assert player.state()["state"] == "stopped"
    assert page.input_value("#text") == LONG_TEXT
    assert player.errors == []
    page.screenshot(path=screenshot_path("chromium-keyboard-shortcuts"), full_page=True)
