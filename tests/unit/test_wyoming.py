"""The Wyoming front-end over the stand-in model: events in, the serving layer's items out, on a
real loopback socket with the ``wyoming`` client library."""

from __future__ import annotations

import asyncio
import time

import pytest
from wyoming.client import AsyncTcpClient
from wyoming.error import Error
from wyoming.event import Event, async_read_event, async_write_event
from wyoming.info import Describe, Info
from wyoming.tts import Synthesize, SynthesizeVoice

from tts_service.errors import UnknownVoiceError
from tts_service.serving import SpeechService
from tts_service.wyoming.messages import service_info, speech_request
from tts_service.wyoming.server import WyomingServer

from .standin import StandInBackend, make_voice_store
from .wyoming_server import WAIT_S, run_wyoming, sample


def test_info_gives_each_voice_its_own_language() -> None:
    info = service_info(make_voice_store())
    voices = {voice.name: voice.languages for voice in info.tts[0].voices}
    assert voices["af_heart"] == ["en-US"]
    assert voices["bm_fable"] == ["en-GB"]
    assert voices["ef_dora"] == ["es"]
    assert voices["jf_alpha"] == ["ja"]


def test_a_language_without_a_name_picks_a_voice_of_that_language() -> None:
    voices = make_voice_store()
    for language, voice in (("es", "ef_dora"), ("en_GB", "bm_fable"), ("en-US", "af_heart")):
        request = speech_request(
            Synthesize("Hola.", SynthesizeVoice(language=language)).event().data, voices, "af_heart"
        )
        assert request.voice == voice
    with pytest.raises(UnknownVoiceError):
        speech_request(
            Synthesize("Ciao.", SynthesizeVoice(language="it")).event().data, voices, "af_heart"
        )


def test_describe_is_answered_with_info() -> None:
    async def talk(port: int, service: SpeechService, server: WyomingServer) -> None:
        async with AsyncTcpClient("127.0.0.1", port, read_timeout=WAIT_S) as client:
            await client.write_event(Describe().event())
            event = await client.read_event()
        assert event is not None and Info.is_type(event.type)
        assert len(Info.from_event(event).tts[0].voices) == len(service.voices.ids)

    run_wyoming(StandInBackend(), talk)


def test_an_overlong_text_is_an_error_event_and_the_connection_stays_usable() -> None:
    async def talk(port: int, service: SpeechService, server: WyomingServer) -> None:
        too_long = "a" * (service.settings.max_input_chars + 1)
        async with AsyncTcpClient("127.0.0.1", port, read_timeout=WAIT_S) as client:
            await client.write_event(Synthesize(too_long).event())
            error = await client.read_event()
            await client.write_event(Synthesize("Fine.").event())
            types = []
            while not types or types[-1] != "audio-stop":
                event = await client.read_event()
                assert event is not None
                types.append(event.type)
        assert error is not None and Error.from_event(error).code == "input_too_long"
        assert types[0] == "audio-start" and "audio-chunk" in types
        assert (
            sample(
                service,
                "tts_errors_total",
                status="400",
                type="invalid_request_error",
                code="input_too_long",
            )
            == 1
        )

    run_wyoming(StandInBackend(), talk)


def test_a_hang_up_before_first_audio_cancels_the_request_at_once() -> None:
    """The connection is read while its request is answered: a client that hangs up while its
    first chunk is still synthesizing cancels it then, not when a write would first fail (the
    stream is cancelled with no audio made)."""
    backend = StandInBackend(delay=WAIT_S)  # the first inference runs until interrupted

    async def talk(port: int, service: SpeechService, server: WyomingServer) -> None:
        client = AsyncTcpClient("127.0.0.1", port)
        await client.connect()
        await client.write_event(Synthesize("One sentence. Then another. And a third.").event())
        loop = asyncio.get_running_loop()
        deadline = loop.time() + WAIT_S
        while backend.call_count == 0:  # the first chunk is synthesizing
            assert loop.time() < deadline
            await asyncio.sleep(0.01)
        await client.disconnect()
        while sample(service, "tts_speech_requests_total", outcome="cancelled") == 0:
            assert loop.time() < deadline, "the hang-up was not noticed"
            await asyncio.sleep(0.01)
        assert sample(service, "tts_audio_seconds_total") == 0
        assert sample(service, "tts_cancelled_streams_total", reason="client_disconnected") == 1

    run_wyoming(backend, talk)


async def _read_until_closed(client: AsyncTcpClient) -> list[str]:
    types = []
    while (event := await client.read_event()) is not None:
        types.append(event.type)
    return types


def test_stopping_lets_a_request_finish_within_the_grace_then_closes_the_connection() -> None:
    backend = StandInBackend(delay=0.05)

    async def talk(port: int, service: SpeechService, server: WyomingServer) -> None:
        async with AsyncTcpClient("127.0.0.1", port, read_timeout=WAIT_S) as client:
            await client.write_event(Synthesize("One sentence. Then another. And a third.").event())
            first = await client.read_event()
            assert first is not None and first.type == "audio-start"
            server.begin_stopping(time.monotonic() + WAIT_S)
            types = await _read_until_closed(client)
        assert types[-1] == "audio-stop", types
        assert sample(service, "tts_speech_requests_total", outcome="done") == 1
        with pytest.raises(OSError):  # no new connections
            await AsyncTcpClient("127.0.0.1", port).connect()

    run_wyoming(backend, talk)


def test_a_request_still_running_at_the_end_of_the_grace_is_cut_with_an_error_event() -> None:
    backend = StandInBackend(delay=WAIT_S)  # every inference runs until interrupted

    async def talk(port: int, service: SpeechService, server: WyomingServer) -> None:
        async with AsyncTcpClient("127.0.0.1", port, read_timeout=WAIT_S) as client:
            await client.write_event(Synthesize("One sentence. Then another.").event())
            loop = asyncio.get_running_loop()
            deadline = loop.time() + WAIT_S
            while backend.call_count == 0:  # the first chunk is synthesizing
                assert loop.time() < deadline
                await asyncio.sleep(0.01)
            server.begin_stopping(time.monotonic())
            error = await client.read_event()
            assert error is not None and Error.from_event(error).code == "shutdown"
            assert await client.read_event() is None
        assert sample(service, "tts_cancelled_streams_total", reason="shutdown") == 1

    run_wyoming(backend, talk)


BAD_SYNTHESIZE = [
    ({"voice": {"name": "af_heart"}}, "invalid_value"),  # no text
    ({"text": 123}, "invalid_value"),
    ({"text": ["Hello."]}, "invalid_value"),
    ({"text": "Hello.", "voice": "af_heart"}, "invalid_value"),
    ({"text": "Hello.", "voice": {"name": 5}}, "invalid_value"),
    ({"text": "Hello.", "voice": {"language": "xx"}}, "voice_not_found"),
    ({"text": ""}, "invalid_value"),
    ({"text": " \n\t "}, "empty_input"),
    ({"text": "…" * 100}, "no_speakable_text"),
    ({"text": "Hello.", "voice": {"name": "../voices/af_heart"}}, "voice_not_found"),
    ({"text": "Hello.", "voice": {"name": "af_heart(1e300)"}}, "invalid_request_error"),
    ({"text": "Hello.", "voice": {"name": "af_heart(0)"}}, None),
]


def test_a_malformed_synthesize_is_an_error_event_and_the_connection_goes_on() -> None:
    """The library's parser takes any data (a missing text was a KeyError); each of these is
    an ``error`` event, and the connection still speaks afterwards."""

    async def talk(port: int, service: SpeechService, server: WyomingServer) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            for data, code in BAD_SYNTHESIZE:
                await async_write_event(Event("synthesize", data), writer)
                event = await asyncio.wait_for(async_read_event(reader), WAIT_S)
                assert event is not None and Error.is_type(event.type), (data, event)
                assert code is None or Error.from_event(event).code == code, (data, event)
            await async_write_event(Synthesize("Still here.").event(), writer)
            event = await asyncio.wait_for(async_read_event(reader), WAIT_S)
            assert event is not None and event.type == "audio-start"
        finally:
            writer.close()

    run_wyoming(StandInBackend(), talk)


@pytest.mark.parametrize(
    "sent",
    [
        b"not json at all\n",
        b'["a", "list"]\n',
        b'{"data": {"text": "no type"}}\n',
        b'{"type": "synthesize", "data_length": -5}\n',
        b'{"type": "synthesize", "data_length": 3}\n[1]',
        b'{"type": "audio-chunk", "payload_length": 100000000000}\n',
        b'{"type": "synthesize", "data": [1, 2]}\n',
        b"{" + b"x" * 100_000 + b"\n",
    ],
    ids=["junk", "list", "no-type", "negative-length", "data-not-object", "huge-payload",
         "inline-data-list", "overlong-line"],
)  # fmt: skip
def test_what_is_not_an_event_gets_an_error_event_and_the_connection_ends(sent: bytes) -> None:
    """Nothing of a claimed length is read (the library's reader would hold it all in memory)."""

    async def talk(port: int, service: SpeechService, server: WyomingServer) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            writer.write(sent)
            event = await asyncio.wait_for(async_read_event(reader), WAIT_S)
            assert event is not None and Error.from_event(event).code == "invalid_event"
            assert await asyncio.wait_for(reader.read(), WAIT_S) == b""  # closed
        finally:
            writer.close()
        assert sample(service, "tts_rejected_requests_total", reason="invalid_event") == 1

    run_wyoming(StandInBackend(), talk)


def test_a_busy_server_refuses_with_an_error_event_saying_when_to_retry() -> None:
    backend = StandInBackend(delay=WAIT_S)  # the first stream holds its slot

    async def talk(port: int, service: SpeechService, server: WyomingServer) -> None:
        async with (
            AsyncTcpClient("127.0.0.1", port) as first,
            AsyncTcpClient("127.0.0.1", port, read_timeout=WAIT_S) as second,
        ):
            await first.write_event(Synthesize("One sentence. Then another.").event())
            loop = asyncio.get_running_loop()
            deadline = loop.time() + WAIT_S
            while backend.call_count == 0:
                assert loop.time() < deadline
                await asyncio.sleep(0.01)
            await second.write_event(Synthesize("Me too.").event())
            event = await second.read_event()
        assert event is not None and Error.is_type(event.type)
        error = Error.from_event(event)
        assert error.code == "server_busy" and "retry in" in error.text, error

    run_wyoming(backend, talk, max_streams=1)


def test_a_failure_in_the_middle_of_the_audio_is_an_error_event_and_the_connection_goes_on() -> (
    None
):
    """The audio stops with an ``error`` event instead of an ``audio-stop`` (never finished as
    if complete), and the next request is answered."""
    backend = StandInBackend(fail_on_call=1)  # the second chunk fails

    async def talk(port: int, service: SpeechService, server: WyomingServer) -> None:
        async with AsyncTcpClient("127.0.0.1", port, read_timeout=WAIT_S) as client:
            await client.write_event(Synthesize("One sentence. Then another. And a third.").event())
            types = []
            while not types or types[-1] not in ("audio-stop", "error"):
                event = await client.read_event()
                assert event is not None
                types.append(event.type)
            await client.write_event(Synthesize("Fine.").event())
            again = []
            while not again or again[-1] not in ("audio-stop", "error"):
                event = await client.read_event()
                assert event is not None
                again.append(event.type)
        assert types[0] == "audio-start" and types[-1] == "error", types
        assert again[0] == "audio-start" and again[-1] == "audio-stop", again

    run_wyoming(backend, talk)


def test_a_silent_connection_is_closed_after_the_header_timeout() -> None:
    """A connection that never sends an event held its socket (and a place under the
    connection bound) for as long as the client kept it open."""

    async def talk(port: int, service: SpeechService, server: WyomingServer) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        started = time.monotonic()
        try:
            assert await asyncio.wait_for(reader.read(), WAIT_S) == b""  # closed, not a word
        finally:
            writer.close()
        assert time.monotonic() - started >= 0.2

    run_wyoming(StandInBackend(), talk, header_timeout=0.2)


STALLED_EVENTS = [
    b'{"type": "synthesize", "da',  # a header line that never ends
    b'{"type": "synthesize", "data_length": 100}\n{"text": ',  # data that never comes in full
]


@pytest.mark.parametrize("stalled", STALLED_EVENTS, ids=["header", "data"])
def test_an_event_stalled_half_sent_is_cut_with_an_error_event(stalled: bytes) -> None:
    """A client that sent part of an event and then nothing held its connection open."""

    async def talk(port: int, service: SpeechService, server: WyomingServer) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            writer.write(stalled)
            event = await asyncio.wait_for(async_read_event(reader), WAIT_S)
            assert event is not None and Error.from_event(event).code == "request_timeout"
            assert await asyncio.wait_for(reader.read(), WAIT_S) == b""
        finally:
            writer.close()

    run_wyoming(StandInBackend(), talk, header_timeout=0.2, body_timeout=0.2)


def test_an_idle_connection_is_closed_after_the_keepalive_timeout_but_not_while_answered() -> None:
    """An answer longer than the keep-alive timeout is not idle time; the silence after it is."""
    backend = StandInBackend(delay=0.8)  # two chunks or more: the answer outlasts 1 s

    async def talk(port: int, service: SpeechService, server: WyomingServer) -> None:
        async with AsyncTcpClient("127.0.0.1", port, read_timeout=WAIT_S) as client:
            asked = time.monotonic()
            await client.write_event(Synthesize("One sentence. Then another. And a third.").event())
            types = []
            while not types or types[-1] != "audio-stop":
                event = await client.read_event()
                assert event is not None
                types.append(event.type)
            answered = time.monotonic()
            assert await client.read_event() is None  # closed
            assert time.monotonic() - answered >= 0.9
        assert answered - asked > 1.0 and "error" not in types, types

    run_wyoming(backend, talk, header_timeout=0.5, keepalive_timeout=1)


def test_a_connection_over_the_bound_gets_an_error_event_and_is_closed() -> None:
    async def talk(port: int, service: SpeechService, server: WyomingServer) -> None:
        async with AsyncTcpClient("127.0.0.1", port, read_timeout=WAIT_S) as first:
            await first.write_event(Describe().event())
            assert await first.read_event() is not None  # the first connection is being served
            async with AsyncTcpClient("127.0.0.1", port, read_timeout=WAIT_S) as second:
                event = await second.read_event()
                assert event is not None and Error.from_event(event).code == (
                    "too_many_connections"
                )
                assert await second.read_event() is None
        loop = asyncio.get_running_loop()
        deadline = loop.time() + WAIT_S
        while True:  # the first connection's place frees once the server saw it close
            async with AsyncTcpClient("127.0.0.1", port, read_timeout=WAIT_S) as third:
                await third.write_event(Describe().event())
                event = await third.read_event()
            assert event is not None
            if Info.is_type(event.type):
                break
            assert loop.time() < deadline
            await asyncio.sleep(0.05)
        assert (
            sample(
                service,
                "tts_errors_total",
                status="503",
                type="service_unavailable",
                code="too_many_connections",
            )
            >= 1
        )

    run_wyoming(StandInBackend(), talk, max_connections=1)


def test_a_phrase_said_again_over_wyoming_comes_from_the_phrase_cache() -> None:
    """The cache lives below the serving layer: a Wyoming repeat skips the model too, and its
    audio is the first one's."""
    backend = StandInBackend()

    async def say(client: AsyncTcpClient, text: str) -> bytes:
        await client.write_event(Synthesize(text).event())
        audio = bytearray()
        while (event := await client.read_event()) is not None and event.type != "audio-stop":
            if event.type == "audio-chunk":
                audio += event.payload or b""
        return bytes(audio)

    async def talk(port: int, service: SpeechService, server: WyomingServer) -> None:
        async with AsyncTcpClient("127.0.0.1", port, read_timeout=WAIT_S) as client:
            first = await say(client, "Sure. One moment.")
            calls = len(backend.calls)
            again = await say(client, "Sure. One moment.")
        assert len(backend.calls) == calls  # no inference
        assert again == first and first
        assert sample(service, "tts_phrase_cache_hits_total") == 2

    run_wyoming(backend, talk, phrase_cache_bytes=1 << 24)
