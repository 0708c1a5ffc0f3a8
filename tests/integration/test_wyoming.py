"""Home Assistant's Wyoming protocol, spoken to by the ``wyoming`` client library over TCP, against
a real ``tts-service serve --wyoming-port`` process and the real model."""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
from wyoming.audio import AudioChunk, AudioStart, AudioStop
from wyoming.client import AsyncTcpClient
from wyoming.error import Error
from wyoming.event import Event
from wyoming.info import Describe, Info
from wyoming.tts import Synthesize, SynthesizeVoice

from tests.helpers import free_port, resample_to_16k, word_error_rate
from tests.integration.conftest import RunningServer, start_server, stop_server
from tts_service.config import Settings
from tts_service.server import EXIT_MARGIN_S

READ_TIMEOUT_S = 120


@dataclass
class Reply:
    """What the server sent for one ``synthesize``: its events, and when each came."""

    events: list[Event] = field(default_factory=list)
    times: list[float] = field(default_factory=list)
    """Seconds from sending the request to each event."""

    def types(self) -> list[str]:
        return [event.type for event in self.events]

    def samples(self) -> np.ndarray:
        audio = b"".join(e.payload or b"" for e in self.events if AudioChunk.is_type(e.type))
        return np.frombuffer(audio, dtype="<i2").astype(np.float32) / 32768


@pytest.fixture(scope="module")
def wyoming_server(
    model_settings: Settings, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[RunningServer, int]]:
    port = free_port()
    running = start_server(tmp_path_factory.mktemp("wyoming"), {"TTS_WYOMING_PORT": str(port)})
    yield running, port
    stop_server(running)


async def _client(port: int) -> AsyncTcpClient:
    client = AsyncTcpClient("127.0.0.1", port, read_timeout=READ_TIMEOUT_S)
    await client.connect()
    return client


async def _synthesize(client: AsyncTcpClient, request: Synthesize) -> Reply:
    """Send ``request`` and read its reply, up to ``audio-stop`` or an ``error``."""
    reply = Reply()
    started = time.perf_counter()
    await client.write_event(request.event())
    while True:
        event = await client.read_event()
        assert event is not None, f"the server hung up after {reply.types()}"
        reply.events.append(event)
        reply.times.append(time.perf_counter() - started)
        if AudioStop.is_type(event.type) or Error.is_type(event.type):
            return reply


def test_describe_lists_every_voice_with_its_language(
    wyoming_server: tuple[RunningServer, int],
) -> None:
    async def ask() -> Info:
        client = await _client(wyoming_server[1])
        try:
            await client.write_event(Describe().event())
            event = await client.read_event()
        finally:
            await client.disconnect()
        assert event is not None and Info.is_type(event.type)
        return Info.from_event(event)

    info = asyncio.run(ask())
    assert len(info.tts) == 1
    program = info.tts[0]
    assert program.name == "tts-service" and program.version
    assert "hexgrad" in program.attribution.name
    voices = {voice.name: voice.languages for voice in program.voices}
    assert len(voices) == 54
    assert voices["af_heart"] == ["en-US"]
    assert voices["bf_emma"] == ["en-GB"]
    assert voices["ff_siwis"] == ["fr"]
    assert voices["jf_alpha"] == ["ja"]
    assert len({lang for languages in voices.values() for lang in languages}) == 9


def test_synthesize_streams_speech_whisper_understands(
    wyoming_server: tuple[RunningServer, int], whisper
) -> None:  # noqa: ANN001
    text = "Hello there. This is a test."

    async def ask() -> Reply:
        client = await _client(wyoming_server[1])
        try:
            return await _synthesize(client, Synthesize(text, SynthesizeVoice(name="af_heart")))
        finally:
            await client.disconnect()

    reply = asyncio.run(ask())
    types = reply.types()
    assert types[0] == "audio-start" and types[-1] == "audio-stop", types
    assert set(types[1:-1]) == {"audio-chunk"}, types
    start = AudioStart.from_event(reply.events[0])
    assert (start.rate, start.width, start.channels) == (24_000, 2, 1)
    samples = reply.samples()
    assert 1.0 < samples.size / 24_000 < 6.0
    assert np.sqrt(np.mean(samples**2)) > 0.01  # speech, not silence
    segments, _ = whisper.transcribe(resample_to_16k(samples, 24_000), language="en", beam_size=1)
    heard = " ".join(segment.text for segment in segments)
    assert word_error_rate(text, heard) <= 0.15, heard


def test_a_refused_request_gets_an_error_event_and_the_connection_goes_on(
    wyoming_server: tuple[RunningServer, int],
) -> None:
    """An unknown voice or an empty text is an ``error`` event with the HTTP API's message; the
    next request on the same connection is answered."""

    async def ask() -> tuple[Reply, Reply, Reply]:
        client = await _client(wyoming_server[1])
        try:
            unknown = await _synthesize(
                client, Synthesize("Hi.", SynthesizeVoice(name="zz_nobody"))
            )
            empty = await _synthesize(client, Synthesize("   "))
            french = await _synthesize(
                client, Synthesize("Bonjour.", SynthesizeVoice(language="fr"))
            )
            return unknown, empty, french
        finally:
            await client.disconnect()

    unknown, empty, french = asyncio.run(ask())
    assert unknown.types() == ["error"]
    error = Error.from_event(unknown.events[0])
    assert error.code == "voice_not_found" and "zz_nobody" in error.text
    assert empty.types() == ["error"]
    assert Error.from_event(empty.events[0]).code == "empty_input"
    assert french.types()[0] == "audio-start" and french.types()[-1] == "audio-stop"
    assert french.samples().size > 0
    assert "voice ff_siwis" in wyoming_server[0].log()  # a voice of the language asked for


def test_first_audio_chunk_arrives_before_the_whole_text_is_synthesized(
    wyoming_server: tuple[RunningServer, int],
) -> None:
    """Audio goes out chunk by chunk as it is synthesized, not once the whole text is done."""
    text = (
        "The first sentence is short. The second one goes on a little longer than that. "
        "Then a third sentence follows it. And a fourth one ends the reply for today."
    )

    async def ask() -> Reply:
        client = await _client(wyoming_server[1])
        try:
            return await _synthesize(client, Synthesize(text))
        finally:
            await client.disconnect()

    reply = asyncio.run(ask())
    chunk_times = [
        t for e, t in zip(reply.events, reply.times, strict=True) if e.type == "audio-chunk"
    ]
    assert len(chunk_times) >= 2
    # Relative to this run's own total, so the machine's speed does not matter.
    assert chunk_times[0] < 0.6 * reply.times[-1], reply.times


def test_a_hang_up_cancels_the_request(wyoming_server: tuple[RunningServer, int]) -> None:
    """A client that hangs up before its audio is done stops the synthesis it started."""
    server = wyoming_server[0]
    text = " ".join(
        f"Sentence number {n} of a long reply that nobody will hear." for n in range(30)
    )

    async def ask_and_leave() -> None:
        client = await _client(wyoming_server[1])
        await client.write_event(Synthesize(text).event())
        event = await client.read_event()
        assert event is not None and event.type == "audio-start"
        await client.disconnect()

    asyncio.run(ask_and_leave())
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if "speech cancelled (client_disconnected)" in server.log():
            return
        time.sleep(0.2)
    pytest.fail(f"no cancelled stream in the log:\n{server.log()[-3000:]}")


def test_a_stop_ends_a_wyoming_request_at_the_end_of_the_grace_with_an_error_event(
    model_settings: Settings, tmp_path: Path
) -> None:
    """SIGTERM: the request in progress may go on for the grace period, then ends with an
    ``error`` event, and the process exits within its promised bound."""
    port = free_port()
    grace = 2.0
    running = start_server(
        tmp_path, {"TTS_WYOMING_PORT": str(port), "TTS_SHUTDOWN_GRACE": str(grace)}
    )
    text = " ".join(
        f"Sentence number {n} of a long reply that nobody will hear." for n in range(30)
    )

    async def ask_then_stop() -> tuple[list[str], float]:
        client = await _client(port)
        try:
            await client.write_event(Synthesize(text).event())
            first = await client.read_event()
            assert first is not None and first.type == "audio-start"
            stopped = time.monotonic()
            running.process.send_signal(signal.SIGTERM)
            types = []
            while (event := await client.read_event()) is not None:
                types.append(event.type)
                if Error.is_type(event.type):
                    assert Error.from_event(event).code == "shutdown"
            return types, time.monotonic() - stopped
        finally:
            await client.disconnect()

    try:
        types, cut_after = asyncio.run(ask_then_stop())
        assert types[-1] == "error", types
        assert "audio-stop" not in types
        assert grace <= cut_after < grace + EXIT_MARGIN_S
        assert running.process.wait(timeout=grace + EXIT_MARGIN_S + 5) == 0
    finally:
        if running.process.poll() is None:
            running.process.kill()
    log = running.log()
    assert "speech cancelled (shutdown)" in log
    assert "Traceback" not in log
