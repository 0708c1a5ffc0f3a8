"""The web player's live mode in real headless Chromium against the real service and model: text
streamed over the WebSocket ``/v1/audio/speech/stream`` as it is typed or replayed, pcm played
through Web Audio while the text is still coming, the spoken text highlighted, Stop clearing the
turn, and the API key offered as a subprotocol.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.browser.conftest import ChromiumPage, open_firefox_player, screenshot_path, wait_until
from tests.integration.conftest import RunningServer, start_server, stop_server

pytestmark = [pytest.mark.browser, pytest.mark.timeout(240)]

FINISHED = "['done', 'error', 'stopped'].includes(window.ttsPlayer.state)"
STARTED = "window.ttsPlayer.firstPlaybackAt !== null || window.ttsPlayer.state === 'error'"

# Outside the Basic Multilingual Plane on purpose: the server's offsets count code points.
REPLY = (
    "Sure! The weather in Paris is sunny today 🌞, with a high of 21 degrees and a light breeze. "
    "If you are heading out this evening, take a jacket: it cools down quickly after sunset. "
    "Enjoy your walk along the Seine, and do try the café on the corner."
)
LONG_REPLY = " ".join(
    f"This is sentence number {n} of a long reply, so the server has plenty left to speak."
    for n in range(1, 21)
)


def code_points(text: str) -> int:
    return len(text)  # Python counts code points, as the server does


def spoken_text(player: ChromiumPage, turn: int = -1) -> str:
    """The highlighted (spoken) text of a turn in the transcript."""
    marks = player.page.eval_on_selector_all(
        "#live-transcript mark", "els => els.map(e => e.textContent)"
    )
    return marks[turn] if marks else ""


def replay(player: ChromiumPage, text: str, rate: float) -> None:
    player.page.fill("#live-reply", text)
    player.page.fill("#live-rate", str(round(rate)))
    player.page.click("#live-replay")


def seconds_to_first_audio(player: ChromiumPage) -> float:
    """A short replay at the highest rate, played to its end: how long this machine takes from
    the first text to the first sound (connection, synthesis, the audio device)."""
    replay(player, "Hello there.", 200)
    player.wait_for(FINISHED)
    state = player.state()
    assert state["state"] == "done", state
    return float((state["firstPlaybackAt"] - state["live"]["replayStartedAt"]) / 1000)


def test_a_replayed_reply_is_heard_before_it_is_fully_sent(open_player: Any) -> None:
    player = open_player()
    first_audio = seconds_to_first_audio(player)
    # The replay lasts three times what the first audio took here, whatever this machine's speed;
    # then sound must start while the reply is still being written.
    tokens = len(REPLY) / 4
    rate = min(200.0, max(5.0, tokens / (3 * first_audio)))
    replay(player, REPLY, rate)

    samples: list[tuple[int, str]] = []  # (spokenUntil, highlighted text) while the turn runs
    while player.state()["state"] not in ("done", "error", "stopped"):
        until, text = player.page.evaluate(
            """() => [window.ttsPlayer.live.spokenUntil,
                      [...document.querySelectorAll("#live-transcript mark")].pop().textContent]"""
        )  # one read: an event between two reads would pair an offset with another highlight
        samples.append((until, text))
        time.sleep(0.05)
    finished = player.state()
    assert finished["state"] == "done", finished
    live = finished["live"]

    assert (finished["path"], finished["format"]) == ("webaudio", "pcm")
    assert player.page.inner_text("#path") == "Web Audio"
    # Heard before the reply was complete: the first sound came before its last token was sent.
    assert live["replaySentAt"] is not None
    assert finished["firstPlaybackAt"] < live["replaySentAt"]
    # Every token went out as its own delta, and the whole reply was spoken, in order.
    assert live["deltas"] >= len(REPLY) // 4 and live["sentChars"] == code_points(REPLY)
    assert live["status"] == "completed"
    assert live["doneSpokenUntil"] == code_points(REPLY)
    assert spoken_text(player) == REPLY
    # The highlight advanced a sentence at a time: seen part-way, always a prefix of the reply.
    assert live["spokenEvents"] >= 2
    partial = {text for until, text in samples if 0 < until < code_points(REPLY)}
    assert partial, "the highlight never stopped part-way through the reply"
    assert all(REPLY.startswith(text) and len(text) == until for until, text in samples)
    # Every byte became a sample, and the AudioContext played them all.
    assert finished["audioSeconds"] == pytest.approx(finished["bytes"] // 2 / 24000, abs=1e-3)
    assert finished["audioSeconds"] > 5
    assert finished["contextTime"] >= finished["audioSeconds"]
    assert player.errors == []
    player.page.screenshot(path=screenshot_path("chromium-live-replay"), full_page=True)


def test_typed_text_is_spoken_once_its_sentence_has_ended(open_player: Any) -> None:
    player = open_player()
    page = player.page
    page.click("#live-input")
    first, rest = "Good morning to you. ", "How did you sleep last night?"
    page.keyboard.type(first + "How", delay=10)
    # The first sentence plays while the turn is still open: nothing has ended it but the text.
    player.wait_for(STARTED)
    playing = player.state()
    assert playing["error"] is None, playing["error"]
    assert playing["live"]["status"] is None  # the turn is not done
    wait_until(
        lambda: spoken_text(player).strip() == first.strip(), 30, "the first sentence highlighted"
    )

    page.keyboard.type(rest[3:], delay=10)
    page.keyboard.press("Enter")  # ends the turn: the rest is spoken
    player.wait_for(FINISHED)
    finished = player.state()
    assert finished["state"] == "done", finished
    text = first + rest
    assert finished["live"]["deltas"] == len(text)  # one per keystroke
    assert finished["live"]["doneSpokenUntil"] == code_points(text)
    assert spoken_text(player) == text
    assert page.input_value("#live-input") == ""  # ready for the next turn
    assert player.errors == []


def test_stop_clears_the_turn_and_the_next_one_plays(open_player: Any) -> None:
    player = open_player()
    page = player.page
    # The replay lasts four times what the first audio took here: Stop comes well before its end.
    rate = min(200.0, max(5.0, len(LONG_REPLY) / 4 / (4 * seconds_to_first_audio(player))))
    replay(player, LONG_REPLY, rate)
    player.wait_for(STARTED)
    assert player.state()["state"] == "playing"

    page.click("#live-stop")
    stopped = player.state()
    assert stopped["state"] == "stopped"
    assert page.locator("#live-stop").is_disabled()
    wait_until(lambda: player.state()["live"]["status"] == "cleared", 30, "turn.done (cleared)")
    cleared = player.state()
    # The server stopped part-way; the replay stopped sending; nothing more was played.
    assert 0 < cleared["live"]["doneSpokenUntil"] < code_points(LONG_REPLY)
    assert cleared["live"]["sentChars"] < code_points(LONG_REPLY)
    assert spoken_text(player) == LONG_REPLY[: cleared["live"]["doneSpokenUntil"]]
    assert page.get_attribute("#live-transcript .turn", "data-status") == "cleared"
    time.sleep(1)
    later = player.state()
    assert later["scheduledSources"] == stopped["scheduledSources"]
    assert later["live"]["deltas"] == cleared["live"]["deltas"]

    # The connection is still usable: the next turn plays to its end.
    page.click("#live-input")
    page.keyboard.type("Fine, thank you.", delay=5)
    page.keyboard.press("Enter")
    player.wait_for(FINISHED)
    again = player.state()
    assert again["state"] == "done", again
    assert again["live"]["status"] == "completed"
    assert spoken_text(player) == "Fine, thank you."
    assert player.errors == []


def test_a_refused_turn_is_shown_as_an_error(open_player: Any) -> None:
    player = open_player()
    page = player.page
    page.fill("#blend", "zz_nobody(2)+af_heart(1)")
    replay(player, "Hello there.", 200)
    player.wait_for(FINISHED, timeout=30)
    state = player.state()
    assert state["state"] == "error"
    error = page.locator("#error")
    assert error.is_visible() and error.get_attribute("role") == "alert"
    assert "zz_nobody" in error.inner_text()
    assert "WebSocket" in error.inner_text()
    assert page.locator("#live-stop").is_disabled()
    assert player.errors == []


KEY = "sk-live-test-4d2a"


@pytest.fixture(scope="module")
def keyed_server(
    web_server: RunningServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningServer]:
    """The service with ``TTS_API_KEY`` set (started after the first, so it finds the model)."""
    running = start_server(tmp_path_factory.mktemp("keyed-server"), {"TTS_API_KEY": KEY})
    yield running
    stop_server(running)


def test_the_api_key_is_offered_as_a_subprotocol_never_in_the_url(
    chromium: Any, keyed_server: RunningServer
) -> None:
    context = chromium.new_context()
    try:
        page = context.new_page()
        sockets: list[Any] = []
        page.on("websocket", lambda socket: sockets.append(socket))
        page.goto(keyed_server.url + "/")
        page.wait_for_function("document.querySelectorAll('#voice optgroup').length > 0")
        player = ChromiumPage(page)

        # Without the key the handshake is refused, and the page says so.
        replay(player, "Hello there.", 200)
        player.wait_for(FINISHED, timeout=30)
        assert player.state()["state"] == "error"
        assert "API key" in page.inner_text("#error")

        page.click("#tts-form details summary")
        page.fill("#api-key", KEY)
        replay(player, "Hello there.", 200)
        player.wait_for(FINISHED)
        state = player.state()
        assert state["state"] == "done", state
        assert state["live"]["doneSpokenUntil"] == len("Hello there.")
        assert sockets and all(KEY not in socket.url for socket in sockets)
        assert KEY not in keyed_server.log()
    finally:
        context.close()


def test_firefox_replays_a_reply_live(firefox: Any, web_server: RunningServer) -> None:
    """Firefox has its own WebSocket and Web Audio: the replay plays there too, while it is sent."""
    driver = firefox
    open_firefox_player(driver, web_server)

    def state() -> dict[str, Any]:
        return driver.execute_script(
            """const out = {};
               for (const [key, value] of Object.entries(window.ttsPlayer)) {
                 if (typeof value !== "function") out[key] = value;
               }
               out.contextTime = window.ttsPlayer.audioContextTime();
               out.spoken = [...document.querySelectorAll("#live-transcript mark")]
                 .map((e) => e.textContent).pop();
               return out;"""
        )

    def replay_in_firefox(text: str, rate: float) -> dict[str, Any]:
        driver.execute_script(
            """document.getElementById("live-reply").value = arguments[0];
               document.getElementById("live-rate").value = arguments[1];""",
            text, str(round(rate)),
        )  # fmt: skip
        driver.find_element("id", "live-replay").click()
        finished = wait_until(
            lambda: (s := state())["state"] in ("done", "error", "stopped") and s, 120, "the end"
        )
        assert finished["state"] == "done", finished
        return finished

    calibration = replay_in_firefox("Hello there.", 200)
    first_audio = (calibration["firstPlaybackAt"] - calibration["live"]["replayStartedAt"]) / 1000
    finished = replay_in_firefox(REPLY, min(200.0, max(5.0, len(REPLY) / 4 / (3 * first_audio))))
    assert (finished["path"], finished["format"]) == ("webaudio", "pcm")
    assert finished["firstPlaybackAt"] < finished["live"]["replaySentAt"]
    assert finished["live"]["doneSpokenUntil"] == code_points(REPLY)
    assert finished["spoken"] == REPLY
    assert finished["contextTime"] >= finished["audioSeconds"] > 5
    assert finished["pageErrors"] == []
