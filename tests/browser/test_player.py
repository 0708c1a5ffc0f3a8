"""The web player in real headless browsers against the real service and model.

Every path is checked on the two-sentence phrase of the foundation issue, played to the end:
audio really plays (the ``playing`` event and ``currentTime`` advancing, or the AudioContext clock
advancing past scheduled sources), the streaming paths start playing before the response has
finished downloading, and the start-of-playback delays land in test-artifacts/browser-timings.json.
"""

from __future__ import annotations

import re
import time
from typing import Any

import pytest

from tests.browser.conftest import (
    NO_MSE_MP3,
    NO_MSE_MP3_NO_WEB_AUDIO,
    PHRASE,
    ChromiumPage,
    open_firefox_player,
    screenshot_path,
    wait_until,
)
from tests.integration.conftest import RunningServer

pytestmark = [pytest.mark.browser, pytest.mark.timeout(180)]

FINISHED = "['done', 'error', 'stopped'].includes(window.ttsPlayer.state)"
STARTED = "window.ttsPlayer.firstPlaybackAt !== null || window.ttsPlayer.state === 'error'"

LONG_TEXT = " ".join(
    f"This is sentence number {n} of a long reply, so the server has plenty left to synthesize."
    for n in range(1, 31)
)


def server_ttfa(server: RunningServer, request_id: str) -> float | None:
    match = re.search(rf"\[{request_id}\] speech \w+: .*TTFA ([\d.]+)s", server.log())
    return float(match.group(1)) if match else None


def record(timings: dict[str, Any], key: str, state: dict[str, Any], server: RunningServer) -> None:
    clicked = state["clickedAt"]
    timings[key] = {
        "path": state["path"],
        "format": state["format"],
        "play_to_first_audio_ms": round(state["ttfaMs"]),
        "play_to_first_byte_ms": round(state["firstByteAt"] - clicked),
        "play_to_response_done_ms": round(state["totalMs"]),
        "server_ttfa_s": server_ttfa(server, state["requestId"]),
        "audio_seconds": round(state["audioSeconds"], 2),
        "webaudio_underruns": state["underruns"],
        "webaudio_gap_s": round(state["gapSeconds"], 2),
        "element_stalls": state["stalls"],
    }


def play_phrase(player: ChromiumPage) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """Type the phrase, press Play; return the state just after playback started, 0.3 s later,
    and when playback has finished."""
    page = player.page
    page.fill("#text", PHRASE)
    page.click("#play")
    player.wait_for(STARTED)
    started = player.state()
    assert started["error"] is None, started["error"]
    time.sleep(0.3)
    later = player.state()
    player.wait_for(FINISHED)
    finished = player.state()
    assert finished["state"] == "done", finished
    return started, later, finished


def assert_download_offered(player: ChromiumPage, extension: str) -> None:
    link = player.page.locator("#download")
    assert link.get_attribute("aria-disabled") == "false"
    assert (link.get_attribute("href") or "").startswith("blob:")
    assert (link.get_attribute("download") or "").endswith(f".{extension}")


def test_chromium_mse_streams_mp3(
    open_player: Any, web_server: RunningServer, timings: dict[str, Any]
) -> None:
    player = open_player()
    started, later, finished = play_phrase(player)

    assert finished["path"] == "mse" and finished["format"] == "mp3"
    assert player.page.inner_text("#path") == "MSE"
    # It really plays: the `playing` event fired and the element's clock moves.
    assert started["state"] == "playing" and not later["audioPaused"]
    assert later["audioCurrentTime"] > started["audioCurrentTime"]
    # Progressive: sound before the last byte arrived.
    assert finished["firstPlaybackAt"] < finished["responseDoneAt"]
    # endOfStream() was called after the last append and the whole phrase played.
    assert finished["mediaSourceState"] == "ended"
    assert finished["appends"] >= 1 and finished["quotaEvictions"] == 0
    assert finished["audioDuration"] == pytest.approx(finished["audioCurrentTime"], abs=0.1)
    assert 4.5 < finished["audioCurrentTime"] < 9
    assert_download_offered(player, "mp3")
    assert player.errors == []
    player.page.screenshot(path=screenshot_path("chromium-desktop-mse"), full_page=True)
    record(timings, "chromium/mse", finished, web_server)


def test_chromium_without_mse_streams_pcm_through_web_audio(
    open_player: Any, web_server: RunningServer, timings: dict[str, Any]
) -> None:
    player = open_player(init_script=NO_MSE_MP3)
    assert player.page.evaluate("MediaSource.isTypeSupported('audio/mpeg')") is False
    started, later, finished = play_phrase(player)

    assert finished["path"] == "webaudio" and finished["format"] == "pcm"
    assert player.page.inner_text("#path") == "Web Audio"
    # It really plays: the AudioContext runs, its clock passed the first source and moves on.
    assert started["contextState"] == "running" and started["scheduledSources"] >= 1
    assert later["contextTime"] > started["contextTime"]
    assert finished["firstPlaybackAt"] < finished["responseDoneAt"]
    # Every byte became a sample (16-bit mono at 24 kHz), all of it was scheduled.
    assert finished["audioSeconds"] == pytest.approx(finished["bytes"] // 2 / 24000, abs=1e-3)
    assert 4.5 < finished["audioSeconds"] < 9
    # The AudioContext played at least as long as the speech lasts.
    assert finished["contextTime"] >= finished["audioSeconds"]
    assert_download_offered(player, "wav")
    assert player.errors == []
    player.page.screenshot(path=screenshot_path("chromium-desktop-webaudio"), full_page=True)
    record(timings, "chromium/webaudio", finished, web_server)


def test_chromium_without_mse_or_web_audio_plays_a_blob(
    open_player: Any, web_server: RunningServer, timings: dict[str, Any]
) -> None:
    player = open_player(init_script=NO_MSE_MP3_NO_WEB_AUDIO, phone=True)
    assert player.page.evaluate("typeof window.AudioContext") == "undefined"
    started, later, finished = play_phrase(player)

    assert finished["path"] == "blob" and finished["format"] == "mp3"
    assert player.page.inner_text("#path") == "Blob"
    assert started["state"] == "playing" and not later["audioPaused"]
    assert later["audioCurrentTime"] > started["audioCurrentTime"]
    # Buffered by design: playback only after the whole response.
    assert finished["firstPlaybackAt"] >= finished["responseDoneAt"]
    assert 4.5 < finished["audioCurrentTime"] < 9
    assert_download_offered(player, "mp3")
    assert player.errors == []
    player.page.screenshot(path=screenshot_path("chromium-phone-blob"), full_page=True)
    record(timings, "chromium/blob", finished, web_server)


@pytest.mark.parametrize(
    ("fmt", "path"), [("aac", "mse"), ("opus", "blob"), ("flac", "blob"), ("wav", "blob")]
)
def test_chromium_plays_the_other_formats(open_player: Any, fmt: str, path: str) -> None:
    """mp3 and pcm are covered above; the other formats the server streams play too."""
    player = open_player()
    page = player.page
    page.fill("#text", "Checking a format.")
    page.select_option("#format", fmt)
    page.click("#play")
    player.wait_for(FINISHED)
    state = player.state()
    assert state["state"] == "done", state
    assert (state["path"], state["format"]) == (path, fmt)
    assert 0.5 < state["audioCurrentTime"] < 3 and state["audioSeconds"] > 0.5
    extension = {"opus": "ogg"}.get(fmt, fmt)
    assert (page.locator("#download").get_attribute("download") or "").endswith(f".{extension}")
    assert player.errors == []


# The second append finds the SourceBuffer "full" once, as a browser's quota would report it.
QUOTA_ONCE = """
const append = SourceBuffer.prototype.appendBuffer;
let calls = 0;
SourceBuffer.prototype.appendBuffer = function (data) {
  calls += 1;
  if (calls === 2) throw new DOMException("simulated: SourceBuffer full", "QuotaExceededError");
  return append.call(this, data);
};
"""


def test_mse_recovers_from_a_full_source_buffer(open_player: Any) -> None:
    player = open_player(init_script=QUOTA_ONCE)
    player.page.fill("#text", "Hello there. This is a short check that nothing gets lost.")
    player.page.click("#play")
    player.wait_for(FINISHED)
    state = player.state()
    assert state["state"] == "done" and state["path"] == "mse", state
    assert state["quotaEvictions"] == 1  # the append was retried, not dropped
    assert state["mediaSourceState"] == "ended"
    assert state["audioCurrentTime"] == pytest.approx(state["audioDuration"], abs=0.1)
    assert state["audioCurrentTime"] > 2
    assert player.errors == []


def test_stop_cancels_the_request(open_player: Any, web_server: RunningServer) -> None:
    player = open_player()
    page = player.page
    page.fill("#text", LONG_TEXT)
    page.press("#text", "Control+Enter")  # the keyboard shortcut plays
    player.wait_for(STARTED)
    playing = player.state()
    assert playing["state"] == "playing", playing
    assert playing["streaming"], "a 30-sentence reply should still be downloading"
    request_id = playing["requestId"]
    assert request_id and page.inner_text("#request-id") == request_id

    page.click("#stop")
    stopped = player.state()
    assert stopped["state"] == "stopped" and stopped["audioPaused"]
    assert page.locator("#stop").is_disabled()

    cancelled = wait_until(
        lambda: re.search(
            rf"\[{request_id}\] speech cancelled \(client_disconnected\): .*", web_server.log()
        ),
        15,
        "the server to log the cancelled stream",
    )
    synthesized = len(web_server.chunk_lines(request_id))
    time.sleep(1.5)
    # Nothing more is synthesized after the cancellation (one chunk may have been in flight).
    assert len(web_server.chunk_lines(request_id)) <= synthesized + 1
    assert synthesized < 6, cancelled.group(0)
    # What arrived before Stop can still be downloaded.
    assert_download_offered(player, "mp3")
    assert player.errors == []


def test_server_errors_are_shown_and_controls_are_labelled(open_player: Any) -> None:
    player = open_player(phone=True)
    page = player.page
    # Every control has a label (keyboard and screen-reader users).
    unlabelled = page.evaluate(
        """() => [...document.querySelectorAll('input, select, textarea')]
                 .filter((el) => !el.labels || el.labels.length === 0).map((el) => el.id)"""
    )
    assert unlabelled == []
    assert page.locator("#voice optgroup[label='British English'] option[value='bm_fable']").count()

    page.fill("#text", "")
    page.click("#play")
    assert "Type some text" in page.inner_text("#error")

    page.fill("#text", "Hello there.")
    page.fill("#blend", "zz_nobody(2)+af_heart(1)")
    page.click("#play")
    player.wait_for(FINISHED, timeout=30)
    state = player.state()
    assert state["state"] == "error"
    error = page.locator("#error")
    assert error.is_visible() and error.get_attribute("role") == "alert"
    assert "Unknown voice 'zz_nobody'" in error.inner_text()
    assert "HTTP 400" in error.inner_text()
    assert page.locator("#stop").is_disabled()
    # The only console error is the browser's own note about the 400 response.
    assert all("status of 400" in message for message in player.errors), player.errors
    page.screenshot(path=screenshot_path("chromium-phone-error"), full_page=True)


def test_firefox_plays_progressively(
    firefox: Any, web_server: RunningServer, timings: dict[str, Any]
) -> None:
    from selenium.webdriver.common.by import By

    driver = firefox
    open_firefox_player(driver, web_server)
    text = driver.find_element(By.ID, "text")
    text.clear()
    text.send_keys(PHRASE)
    driver.find_element(By.ID, "play").click()

    def state() -> dict[str, Any]:
        return driver.execute_script(
            """const out = {};
               for (const [key, value] of Object.entries(window.ttsPlayer)) {
                 if (typeof value !== "function") out[key] = value;
               }
               const audio = document.getElementById("audio");
               out.audioCurrentTime = audio.currentTime;
               out.contextTime = window.ttsPlayer.audioContextTime();
               out.contextState = window.ttsPlayer.audioContextState();
               return out;"""
        )

    wait_until(
        lambda: (s := state())["firstPlaybackAt"] is not None or s["state"] == "error",
        60,
        "playback to start in Firefox",
    )
    started = state()
    assert started["error"] is None, started["error"]
    time.sleep(0.3)
    later = state()
    finished = wait_until(
        lambda: (s := state())["state"] in ("done", "error", "stopped") and s, 60, "the end"
    )
    assert finished["state"] == "done", finished
    # Firefox ESR has MediaSource but no mp3 in it: it streams pcm through Web Audio.
    assert finished["path"] in ("mse", "webaudio")
    if finished["path"] == "webaudio":
        assert started["contextState"] == "running"
        assert later["contextTime"] > started["contextTime"]
        assert finished["contextTime"] >= finished["audioSeconds"] > 4.5
    else:
        assert later["audioCurrentTime"] > started["audioCurrentTime"]
    assert finished["firstPlaybackAt"] < finished["responseDoneAt"]
    assert finished["pageErrors"] == []
    driver.save_full_page_screenshot(screenshot_path("firefox-desktop"))
    record(timings, f"firefox/{finished['path']}", finished, web_server)
