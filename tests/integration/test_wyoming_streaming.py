"""Wyoming's streaming form (``synthesize-start``, ``-chunk``…, ``-stop``), spoken to by the
``wyoming`` client library and by ``wyoming-bench``, against a real ``tts-service serve
--wyoming-port`` process and the real model."""

from __future__ import annotations

import asyncio
import re
import subprocess
import sys
import time
from collections.abc import Iterator

import numpy as np
import pytest
from wyoming.audio import AudioStart
from wyoming.client import AsyncTcpClient
from wyoming.error import Error
from wyoming.event import Event
from wyoming.tts import (
    Synthesize,
    SynthesizeChunk,
    SynthesizeStart,
    SynthesizeStop,
    SynthesizeVoice,
)

from tests.helpers import free_port, resample_to_16k, word_error_rate, words
from tests.integration.conftest import RunningServer, start_server, stop_server
from tts_service.config import Settings

READ_TIMEOUT_S = 120
REPLY = (
    "Good morning! Dr. Smith will see you at ten today. Please bring your insurance card, "
    "and arrive a few minutes early."
)


@pytest.fixture(scope="module")
def wyoming_server(
    model_settings: Settings, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[RunningServer, int]]:
    """One stream at a time: a stream slot that is not given back shows at the next request."""
    port = free_port()
    running = start_server(
        tmp_path_factory.mktemp("wyoming-streaming"),
        {"TTS_WYOMING_PORT": str(port), "TTS_MAX_STREAMS": "1"},
    )
    yield running, port
    stop_server(running)


async def _client(port: int) -> AsyncTcpClient:
    client = AsyncTcpClient("127.0.0.1", port, read_timeout=READ_TIMEOUT_S)
    await client.connect()
    return client


def _pieces(text: str, size: int = 4) -> list[str]:
    """``text`` in pieces of ``size`` characters, as a language model's tokens come ("Dr." and
    " Smith" among them, in pieces of their own: the abbreviation's period is not a sentence
    end)."""
    return [text[i : i + size] for i in range(0, len(text), size)]


async def _read_until(client: AsyncTcpClient, last: str) -> list[Event]:
    events = []
    while True:
        event = await client.read_event()
        assert event is not None, f"the server hung up after {[e.type for e in events]}"
        events.append(event)
        if event.type == last:
            return events


def _samples(events: list[Event]) -> np.ndarray:
    audio = b"".join(e.payload or b"" for e in events if e.type == "audio-chunk")
    return np.frombuffer(audio, dtype="<i2").astype(np.float32) / 32768


async def _whole(port: int, text: str) -> np.ndarray:
    client = await _client(port)
    try:
        await client.write_event(Synthesize(text, SynthesizeVoice(name="af_heart")).event())
        return _samples(await _read_until(client, "audio-stop"))
    finally:
        await client.disconnect()


def test_a_reply_streamed_in_small_pieces_is_spoken_whisper_understands(
    wyoming_server: tuple[RunningServer, int], whisper
) -> None:  # noqa: ANN001
    """The first sentence's audio comes before the client has sent the rest of the text (it
    waits for that audio first): ordering, not timing. The whole reply is heard, "Dr." and
    "Smith" together, and lasts as long as the same text sent whole."""
    port = wyoming_server[1]
    split = REPLY.index(" will")  # the first sentence, and "Dr. Smith" cut after "Smith"

    async def ask() -> tuple[list[Event], list[Event], np.ndarray]:
        client = await _client(port)
        try:
            await client.write_event(SynthesizeStart(SynthesizeVoice(name="af_heart")).event())
            for piece in _pieces(REPLY[:split]):
                await client.write_event(SynthesizeChunk(piece).event())
            before = await _read_until(client, "audio-chunk")  # no stop sent yet
            for piece in _pieces(REPLY[split:]):
                await client.write_event(SynthesizeChunk(piece).event())
            await client.write_event(SynthesizeStop().event())
            after = await _read_until(client, "synthesize-stopped")
        finally:
            await client.disconnect()
        return before, after, await _whole(port, REPLY)

    before, after, whole = asyncio.run(ask())
    types = [event.type for event in before + after]
    assert types[:2] == ["audio-start", "audio-chunk"], types
    assert types[-2:] == ["audio-stop", "synthesize-stopped"], types
    assert set(types[2:-2]) == {"audio-chunk"}, types
    start = AudioStart.from_event(before[0])
    assert (start.rate, start.width, start.channels) == (24_000, 2, 1)
    samples = _samples(before + after)
    assert np.sqrt(np.mean(samples**2)) > 0.01  # speech, not silence
    assert 0.8 < samples.size / whole.size < 1.25, (samples.size, whole.size)
    segments, _ = whisper.transcribe(resample_to_16k(samples, 24_000), language="en", beam_size=1)
    heard = " ".join(segment.text for segment in segments).lower().replace("doctor", "dr")
    assert "smith" in words(heard), heard
    assert word_error_rate(REPLY, heard) <= 0.15, heard


def test_the_whole_synthesize_sent_during_a_streaming_request_is_not_spoken_again(
    wyoming_server: tuple[RunningServer, int],
) -> None:
    """As Home Assistant sends it: chunks, the whole text in a ``synthesize``, the stop."""
    port = wyoming_server[1]
    text = "Hello there. This is a test."

    async def ask() -> tuple[list[Event], np.ndarray]:
        client = await _client(port)
        try:
            await client.write_event(SynthesizeStart().event())
            for piece in _pieces(text, 6):
                await client.write_event(SynthesizeChunk(piece).event())
            await client.write_event(Synthesize(text).event())
            await client.write_event(SynthesizeStop().event())
            answer = await _read_until(client, "synthesize-stopped")
        finally:
            await client.disconnect()
        return answer, await _whole(port, text)

    answer, whole = asyncio.run(ask())
    types = [event.type for event in answer]
    assert types.count("audio-start") == 1 and types.count("audio-stop") == 1, types
    assert 0.8 < _samples(answer).size / whole.size < 1.25


def test_streaming_errors_are_error_events_and_the_connection_goes_on(
    wyoming_server: tuple[RunningServer, int],
) -> None:
    async def ask() -> tuple[list[Event], list[Event], list[Event]]:
        client = await _client(wyoming_server[1])
        try:
            await client.write_event(SynthesizeChunk("Hello.").event())
            stray = [await client.read_event()]
            await client.write_event(SynthesizeStart(SynthesizeVoice(name="zz_nobody")).event())
            await client.write_event(SynthesizeChunk("Hello.").event())
            await client.write_event(SynthesizeStop().event())
            unknown = await _read_until(client, "synthesize-stopped")
            await client.write_event(SynthesizeStart(SynthesizeVoice(language="fr")).event())
            await client.write_event(SynthesizeChunk("Bonjour à tous.").event())
            await client.write_event(SynthesizeStop().event())
            french = await _read_until(client, "synthesize-stopped")
        finally:
            await client.disconnect()
        return stray, unknown, french  # type: ignore[return-value]

    stray, unknown, french = asyncio.run(ask())
    assert Error.from_event(stray[0]).code == "no_turn"
    assert [e.type for e in unknown] == ["error", "synthesize-stopped"]
    error = Error.from_event(unknown[0])
    assert error.code == "voice_not_found" and "zz_nobody" in error.text
    assert [e.type for e in french][-2:] == ["audio-stop", "synthesize-stopped"]
    assert _samples(french).size > 0


def test_a_hang_up_in_the_middle_of_a_streaming_request_gives_its_stream_slot_back(
    wyoming_server: tuple[RunningServer, int],
) -> None:
    """The client goes while its reply is still being written (no stop will ever come): its
    synthesis is cancelled and the server's one stream slot serves the next request."""
    server, port = wyoming_server

    async def ask_and_leave() -> None:
        client = await _client(port)
        await client.write_event(SynthesizeStart().event())
        await client.write_event(SynthesizeChunk("The first sentence is here. The sec").event())
        await _read_until(client, "audio-chunk")
        await client.disconnect()

    async def next_request() -> list[str]:
        """Asked until the slot is free (a busy server answers at once with an error)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 30
        while True:
            client = await _client(port)
            try:
                await client.write_event(Synthesize("Next, please.").event())
                first = await client.read_event()
            finally:
                await client.disconnect()
            assert first is not None
            if first.type == "audio-start":
                return [first.type]
            assert Error.from_event(first).code == "server_busy", first
            assert loop.time() < deadline, "the stream slot was never given back"
            await asyncio.sleep(0.2)

    asyncio.run(ask_and_leave())
    assert asyncio.run(next_request()) == ["audio-start"]
    deadline = time.monotonic() + 30
    while "speech cancelled (client_disconnected)" not in server.log():
        assert time.monotonic() < deadline, server.log()[-3000:]
        time.sleep(0.2)


def test_wyoming_bench_measures_both_forms(wyoming_server: tuple[RunningServer, int]) -> None:
    """``wyoming-bench``, a third-party benchmark of Wyoming TTS servers, runs the whole-text
    and the streaming form against the server: each measurement succeeds, and both forms give
    about the same length of audio for the same text (its exit status is 0 unless every
    measurement failed, so its lines are read). Its command line runs in a process of its own,
    with one change: its probe for the streaming form allows each event 8 s, fixed, which a
    busy test machine's synthesis may exceed (the probe would then report the form as not
    supported), so the probe gets the test's read timeout instead."""
    arguments = [
        "tts", f"127.0.0.1:{wyoming_server[1]}", "--mode", "both", "--verbose",
        "--texts", "Hello there. This is a short test of the server.",
        "--rounds", "1", "--warmup", "0", "--timeout", str(READ_TIMEOUT_S),
        "--no-unique",  # the same text both times (no random suffix spoken), nothing cached here
    ]  # fmt: skip
    program = (
        "import sys, wyoming_bench.cli as cli\n"
        f"cli.TTS_PROBE_TIMEOUT = {READ_TIMEOUT_S}\n"
        "sys.exit(cli.main(sys.argv[1:]))"
    )
    result = subprocess.run(
        [sys.executable, "-c", program, *arguments],
        capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "FAIL" not in output and "NOT SUPPORTED" not in output, output
    seconds = {
        mode: float(audio)
        for mode, audio in re.findall(r"^\[(\w+)\] r0 .*audio=([\d.]+)s", output, re.MULTILINE)
    }
    assert seconds.keys() == {"non_streaming", "streaming"}, output
    assert 0.8 < seconds["streaming"] / seconds["non_streaming"] < 1.25, output
