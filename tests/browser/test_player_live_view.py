"""The player's live view in real headless browsers against the real service and model: the
run's audio received and played, drawn while the request streams, on every playback path and in
live mode; the series it draws are read back from ``window.ttsPlayer.timeline``.
"""

from __future__ import annotations

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

pytestmark = [pytest.mark.browser, pytest.mark.timeout(240)]

FINISHED = "['done', 'error', 'stopped'].includes(window.ttsPlayer.state)"

# Six sentences: the response streams for several chunks, so the view is seen mid-request.
TEXT = " ".join(
    f"This is sentence number {n} of the reply, long enough to be a chunk of its own."
    for n in range(1, 7)
)

READ_VIEW = """() => ({
  streaming: window.ttsPlayer.streaming,
  state: window.ttsPlayer.state,
  timeline: window.ttsPlayer.timeline,
  view: window.ttsPlayer.liveView,
})"""


def received_at(received: list[list[float]], t: float) -> float:
    """Seconds of audio received by ``t``: the step the chart draws."""
    seconds = 0.0
    for at, value in received:
        if at > t:
            break
        seconds = value
    return seconds


def assert_played_never_exceeds_received(timeline: dict[str, Any], tolerance: float) -> None:
    over = [
        (t, played, received_at(timeline["received"], t))
        for t, played in timeline["played"]
        if played > received_at(timeline["received"], t) + tolerance
    ]
    assert not over, f"played ahead of received (t, played, received): {over[:5]}"


def watch(player: ChromiumPage) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Samples of the view while the run lasts, then the player's final state."""
    samples = []
    while True:
        sample = player.page.evaluate(READ_VIEW)
        samples.append(sample)
        if sample["state"] in ("done", "error", "stopped"):
            break
        time.sleep(0.05)
    return samples, player.state()


def check_finished_view(player: ChromiumPage, finished: dict[str, Any], tolerance: float) -> None:
    assert finished["state"] == "done", finished
    timeline, view = finished["timeline"], finished["liveView"]
    # The first-audio mark is the player's own first-audio time, and it was drawn.
    assert timeline["firstAudio"] == pytest.approx(finished["ttfaMs"] / 1000, abs=1e-6)
    assert view["firstAudio"] == timeline["firstAudio"]
    # Every piece that arrived is a point; the last one is all the audio.
    assert len(timeline["arrivals"]) == finished["chunks"] == len(timeline["received"])
    assert timeline["arrivals"][-1][1] == finished["bytes"]
    assert view["receivedPoints"] == len(timeline["received"])
    assert timeline["received"][-1][1] == pytest.approx(finished["audioSeconds"], abs=tolerance)
    # Played: from nothing to everything, never backwards, never ahead of what was received.
    played = [seconds for _, seconds in timeline["played"]]
    assert played == sorted(played) and played[0] == 0
    assert played[-1] == pytest.approx(finished["audioSeconds"], abs=max(tolerance, 0.1))
    assert_played_never_exceeds_received(timeline, tolerance)
    summary = player.page.inner_text("#live-view-summary")
    assert summary.startswith(f"First audio at {timeline['firstAudio']:.2f} s")
    assert player.errors == []


@pytest.mark.parametrize(
    ("init_script", "path", "tolerance"),
    [(None, "mse", 0.05), (NO_MSE_MP3, "webaudio", 1e-6)],
    ids=["mse", "webaudio"],
)
def test_the_live_view_draws_while_the_request_streams(
    open_player: Any, init_script: str | None, path: str, tolerance: float
) -> None:
    """Tolerance: bare pcm is exact; mp3 is measured in bytes and converted at the rate the
    browser decoded so far, which moves by a frame or two as more is decoded."""
    player = open_player(init_script=init_script)
    player.page.fill("#text", TEXT)
    player.page.click("#play")
    samples, finished = watch(player)
    assert finished["path"] == path

    streaming = [s for s in samples if s["streaming"] and s["timeline"]["received"]]
    assert len(streaming) >= 2, "the request ended before the view could be seen streaming"
    first, last = streaming[0], streaming[-1]
    # The received series grew and was drawn, more than once, before the request ended.
    assert len(last["timeline"]["received"]) > len(first["timeline"]["received"])
    assert last["timeline"]["received"][-1][1] > first["timeline"]["received"][-1][1]
    assert last["view"]["draws"] > first["view"]["draws"]
    # Drawn at each render (every 100 ms): a piece may have arrived since the last one.
    assert 0 < last["view"]["receivedPoints"] <= len(last["timeline"]["received"])
    assert finished["timeline"]["responseDone"] > last["timeline"]["received"][-1][0]
    # The first audio is marked while the request still streams (the long text's later chunks).
    assert any(s["timeline"]["firstAudio"] is not None for s in streaming)
    check_finished_view(player, finished, tolerance)
    player.page.locator("#live-view").screenshot(path=screenshot_path(f"live-view-{path}"))


def test_the_blob_path_draws_once_the_audio_is_known(open_player: Any) -> None:
    """The Blob path cannot tell seconds of mp3 before the browser read the whole file: the
    pieces are counted as they arrive, then drawn as seconds."""
    player = open_player(init_script=NO_MSE_MP3_NO_WEB_AUDIO)
    player.page.fill("#text", PHRASE)
    player.page.click("#play")
    samples, finished = watch(player)
    assert finished["path"] == "blob"
    streaming = [s for s in samples if s["streaming"]]
    assert any(s["timeline"]["arrivals"] for s in streaming)
    assert all(not s["timeline"]["received"] for s in streaming)
    check_finished_view(player, finished, 0.05)
    player.page.locator("#live-view").screenshot(path=screenshot_path("live-view-blob"))


def test_live_mode_marks_the_servers_chunks(open_player: Any) -> None:
    player = open_player()
    player.page.fill(
        "#live-reply", "Good morning. The weather is fine today. Take a jacket this evening."
    )
    player.page.fill("#live-rate", "200")
    player.page.click("#live-replay")
    _, finished = watch(player)
    assert (finished["path"], finished["format"]) == ("webaudio", "pcm")
    timeline = finished["timeline"]
    # One mark for each text.spoken event, each on the received line at its time.
    assert len(timeline["chunks"]) == finished["live"]["spokenEvents"] >= 2
    assert finished["liveView"]["chunkPoints"] == len(timeline["chunks"])
    for t, seconds in timeline["chunks"]:
        assert seconds == pytest.approx(received_at(timeline["received"], t), abs=1e-9)
    check_finished_view(player, finished, 1e-6)
    player.page.locator("#live-view").screenshot(path=screenshot_path("live-view-live-mode"))


def test_firefox_draws_the_live_view(firefox: Any, web_server: RunningServer) -> None:
    from selenium.webdriver.common.by import By

    driver = firefox
    open_firefox_player(driver, web_server)
    text = driver.find_element(By.ID, "text")
    text.clear()
    text.send_keys(PHRASE)
    driver.find_element(By.ID, "play").click()
    read = "return {state: window.ttsPlayer.state, ttfaMs: window.ttsPlayer.ttfaMs, " \
        "timeline: window.ttsPlayer.timeline, view: window.ttsPlayer.liveView, " \
        "errors: window.ttsPlayer.pageErrors};"  # fmt: skip
    finished = wait_until(
        lambda: (s := driver.execute_script(read))["state"] in ("done", "error", "stopped") and s,
        90,
        "the end of playback in Firefox",
    )
    assert finished["state"] == "done", finished
    timeline, view = finished["timeline"], finished["view"]
    assert view["draws"] > 1 and view["receivedPoints"] == len(timeline["received"]) > 0
    assert timeline["firstAudio"] == pytest.approx(finished["ttfaMs"] / 1000, abs=1e-6)
    assert view["firstAudio"] == timeline["firstAudio"]
    assert_played_never_exceeds_received(timeline, 0.05)
    summary = driver.find_element(By.ID, "live-view-summary").text
    assert summary.startswith("First audio at")
    assert finished["errors"] == []
    driver.find_element(By.ID, "live-view").screenshot(screenshot_path("live-view-firefox"))
