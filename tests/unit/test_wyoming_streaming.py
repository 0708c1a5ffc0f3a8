"""Wyoming's streaming form (``synthesize-start``, ``-chunk``…, ``-stop``) over the stand-in
model, on a real loopback socket with the ``wyoming`` client library."""

from __future__ import annotations

import asyncio
import time

import numpy as np
from wyoming.audio import AudioStart
from wyoming.client import AsyncTcpClient
from wyoming.error import Error
from wyoming.event import Event
from wyoming.info import Describe, Info
from wyoming.tts import (
    Synthesize,
    SynthesizeChunk,
    SynthesizeStart,
    SynthesizeStop,
    SynthesizeVoice,
)

from tts_service.serving import SpeechService
from tts_service.wyoming.messages import service_info
from tts_service.wyoming.server import WyomingServer

from .standin import StandInBackend, make_voice_store
from .wyoming_server import WAIT_S, run_wyoming, sample

REPLY = ["Hello there, Dr.", " Smith. The weather", " today is sunny. And", " tomorrow too."]


async def _read_answer(client: AsyncTcpClient) -> list[Event]:
    """The events of one streaming answer, up to ``synthesize-stopped`` (or a hang-up)."""
    events = []
    while (event := await client.read_event()) is not None:
        events.append(event)
        if event.type == "synthesize-stopped":
            break
    return events


def _types(events: list[Event]) -> list[str]:
    return [event.type for event in events]


def _samples(events: list[Event]) -> int:
    return sum(len(e.payload or b"") for e in events if e.type == "audio-chunk") // 2


def _tone_samples(events: list[Event]) -> int:
    """Samples of the stand-in's tone (not its silences): their number follows the phonemes."""
    audio = b"".join(e.payload or b"" for e in events if e.type == "audio-chunk")
    return int(np.count_nonzero(np.abs(np.frombuffer(audio, dtype="<i2")) > 1000))


async def _wait_for(condition: object, what: str) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + WAIT_S
    while not condition():  # type: ignore[operator]
        assert loop.time() < deadline, what
        await asyncio.sleep(0.01)


def test_info_says_the_streaming_form_is_taken() -> None:
    assert service_info(make_voice_store()).tts[0].supports_synthesize_streaming


def test_streamed_text_is_spoken_before_its_stop_and_answered_in_order() -> None:
    """The first sentences' audio comes while the client still holds the rest of the text back;
    the answer is ``audio-start``, ``audio-chunk``…, ``audio-stop``, ``synthesize-stopped``,
    and says all the text: as much audio as the same text sent whole."""

    async def talk(port: int, service: SpeechService, server: WyomingServer) -> None:
        async with AsyncTcpClient("127.0.0.1", port, read_timeout=WAIT_S) as client:
            await client.write_event(Synthesize("".join(REPLY)).event())
            whole = []
            while not whole or whole[-1].type != "audio-stop":
                event = await client.read_event()
                assert event is not None
                whole.append(event)
            await client.write_event(SynthesizeStart(SynthesizeVoice(name="af_heart")).event())
            for piece in REPLY[:-1]:
                await client.write_event(SynthesizeChunk(piece).event())
            first = await client.read_event()  # the stop has not been sent
            assert first is not None and first.type == "audio-start"
            second = await client.read_event()
            assert second is not None and second.type == "audio-chunk"
            await client.write_event(SynthesizeChunk(REPLY[-1]).event())
            await client.write_event(SynthesizeStop().event())
            rest = await _read_answer(client)
        types = _types([first, second, *rest])
        assert types[-2:] == ["audio-stop", "synthesize-stopped"], types
        assert set(types[1:-2]) == {"audio-chunk"}, types
        start = AudioStart.from_event(first)
        assert (start.rate, start.width, start.channels) == (24_000, 2, 1)
        streamed, expected = _tone_samples([second, *rest]), _tone_samples(whole)
        assert abs(streamed - expected) <= 0.05 * expected, (streamed, expected)

    run_wyoming(StandInBackend(), talk)


def test_a_whole_synthesize_during_a_streaming_request_is_ignored() -> None:
    """Home Assistant sends the whole text in a ``synthesize`` too, before its stop: spoken
    once, not twice."""

    async def talk(port: int, service: SpeechService, server: WyomingServer) -> None:
        async with AsyncTcpClient("127.0.0.1", port, read_timeout=WAIT_S) as client:
            await client.write_event(SynthesizeStart().event())
            for piece in REPLY:
                await client.write_event(SynthesizeChunk(piece).event())
            await client.write_event(Synthesize("".join(REPLY)).event())
            await client.write_event(SynthesizeStop().event())
            answer = await _read_answer(client)
            await client.write_event(Describe().event())
            after = await client.read_event()
        types = _types(answer)
        assert types.count("audio-start") == 1 and types.count("audio-stop") == 1, types
        assert after is not None and Info.is_type(after.type)  # no second answer came first
        assert sample(service, "tts_speech_requests_total", outcome="done") == 1

    run_wyoming(StandInBackend(), talk)


def test_a_refused_start_is_an_error_its_chunks_are_dropped_and_its_stop_answered() -> None:
    async def talk(port: int, service: SpeechService, server: WyomingServer) -> None:
        async with AsyncTcpClient("127.0.0.1", port, read_timeout=WAIT_S) as client:
            for voice in (SynthesizeVoice(name="zz_nobody"), SynthesizeVoice(language="xx")):
                await client.write_event(SynthesizeStart(voice).event())
                await client.write_event(SynthesizeChunk("Hello there.").event())
                await client.write_event(SynthesizeStop().event())
                answer = await _read_answer(client)
                assert _types(answer) == ["error", "synthesize-stopped"], answer
                error = Error.from_event(answer[0])
                assert error.code == "voice_not_found", error
                assert (voice.name or voice.language or "") in error.text, error
            await client.write_event(Event("synthesize-start", {"voice": "af_heart"}))
            await client.write_event(SynthesizeStop().event())
            answer = await _read_answer(client)
            assert _types(answer) == ["error", "synthesize-stopped"], answer
            assert Error.from_event(answer[0]).code == "invalid_value"
        assert service.synthesizer.open_streams == 0

    run_wyoming(StandInBackend(), talk)


def test_chunks_and_stops_out_of_place_are_errors_and_the_connection_goes_on() -> None:
    """A chunk or a stop with no streaming request, a second start, a chunk with no text: each
    an ``error`` event; the request in progress goes on, and the connection still speaks."""

    async def talk(port: int, service: SpeechService, server: WyomingServer) -> None:
        async with AsyncTcpClient("127.0.0.1", port, read_timeout=WAIT_S) as client:
            for event in (SynthesizeChunk("Hello.").event(), SynthesizeStop().event()):
                await client.write_event(event)
                error = await client.read_event()
                assert error is not None and Error.from_event(error).code == "no_turn", error
            await client.write_event(SynthesizeStart().event())
            await client.write_event(SynthesizeChunk("Hello there. ").event())
            await client.write_event(SynthesizeStart().event())
            await client.write_event(Event("synthesize-chunk", {"text": 5}))
            await client.write_event(SynthesizeChunk("Still here.").event())
            await client.write_event(SynthesizeStop().event())
            answer = await _read_answer(client)
        errors = [Error.from_event(e).code for e in answer if e.type == "error"]
        assert errors == ["turn_in_progress", "invalid_value"], answer
        spoken = [e.type for e in answer if e.type != "error"]
        assert spoken[0] == "audio-start" and spoken[-2:] == ["audio-stop", "synthesize-stopped"]
        assert service.synthesizer.open_streams == 0

    run_wyoming(StandInBackend(), talk)


def test_a_chunk_over_the_buffer_is_refused_and_the_rest_is_spoken() -> None:
    async def talk(port: int, service: SpeechService, server: WyomingServer) -> None:
        limit = service.settings.max_buffered_text
        async with AsyncTcpClient("127.0.0.1", port, read_timeout=WAIT_S) as client:
            await client.write_event(SynthesizeStart().event())
            await client.write_event(SynthesizeChunk("Hello there. And").event())
            await client.write_event(SynthesizeChunk("a" * limit).event())
            await client.write_event(SynthesizeChunk(" goodbye.").event())
            await client.write_event(SynthesizeStop().event())
            answer = await _read_answer(client)
        errors = [Error.from_event(e) for e in answer if e.type == "error"]
        assert [e.code for e in errors] == ["buffer_full"], answer
        assert str(limit) in errors[0].text
        assert _types(answer)[-2:] == ["audio-stop", "synthesize-stopped"]
        assert 0 < _samples(answer) / 24_000 < 10  # the short text, not the refused one

    run_wyoming(StandInBackend(), talk, max_buffered_text=256)


def test_a_busy_server_refuses_a_streaming_request_with_an_error_saying_when_to_retry() -> None:
    backend = StandInBackend(delay=WAIT_S)  # the first stream holds its slot

    async def talk(port: int, service: SpeechService, server: WyomingServer) -> None:
        async with (
            AsyncTcpClient("127.0.0.1", port) as first,
            AsyncTcpClient("127.0.0.1", port, read_timeout=WAIT_S) as second,
        ):
            await first.write_event(Synthesize("One sentence. Then another.").event())
            await _wait_for(lambda: backend.call_count > 0, "the first stream never started")
            await second.write_event(SynthesizeStart().event())
            await second.write_event(SynthesizeChunk("Me too.").event())
            await second.write_event(SynthesizeStop().event())
            answer = await _read_answer(second)
        assert _types(answer) == ["error", "synthesize-stopped"], answer
        error = Error.from_event(answer[0])
        assert error.code == "server_busy" and "retry in" in error.text, error

    run_wyoming(backend, talk, max_streams=1)


def test_a_failure_in_the_middle_of_the_audio_is_an_error_then_synthesize_stopped() -> None:
    async def talk(port: int, service: SpeechService, server: WyomingServer) -> None:
        async with AsyncTcpClient("127.0.0.1", port, read_timeout=WAIT_S) as client:
            await client.write_event(SynthesizeStart().event())
            await client.write_event(
                SynthesizeChunk("One sentence. Then another. A third.").event()
            )
            await client.write_event(SynthesizeStop().event())
            answer = await _read_answer(client)
            await client.write_event(Synthesize("Fine.").event())
            again = await client.read_event()
        types = _types(answer)
        assert types[0] == "audio-start" and types[-2:] == ["error", "synthesize-stopped"], types
        assert "audio-stop" not in types
        assert again is not None and again.type == "audio-start"

    run_wyoming(StandInBackend(fail_on_call=1), talk)


def test_a_hang_up_in_the_middle_of_a_streaming_request_frees_its_stream_slot() -> None:
    """The text is still arriving and the first sentence synthesizing when the client goes: the
    synthesis is cancelled and the slot is free for the next request, long before the running
    inference would have ended."""
    backend = StandInBackend(delay=4 * WAIT_S)  # the first inference runs until interrupted

    async def talk(port: int, service: SpeechService, server: WyomingServer) -> None:
        client = AsyncTcpClient("127.0.0.1", port)
        await client.connect()
        await client.write_event(SynthesizeStart().event())
        await client.write_event(SynthesizeChunk("One sentence. Then").event())
        await _wait_for(lambda: backend.call_count > 0, "the first sentence never started")
        assert service.synthesizer.open_streams == 1
        await client.disconnect()
        await _wait_for(
            lambda: service.synthesizer.open_streams == 0, "the stream slot was not given back"
        )
        await _wait_for(
            lambda: sample(service, "tts_cancelled_streams_total", reason="client_disconnected"),
            "no cancelled stream",
        )

    run_wyoming(backend, talk, max_streams=1)


def test_a_pause_in_the_text_longer_than_the_keepalive_does_not_close_the_connection() -> None:
    """A language model that pauses between chunks is not an idle client."""

    async def talk(port: int, service: SpeechService, server: WyomingServer) -> None:
        async with AsyncTcpClient("127.0.0.1", port, read_timeout=WAIT_S) as client:
            await client.write_event(SynthesizeStart().event())
            await client.write_event(SynthesizeChunk("Hello there. ").event())
            await asyncio.sleep(1.5)  # longer than the keep-alive timeout
            await client.write_event(SynthesizeChunk("Goodbye.").event())
            await client.write_event(SynthesizeStop().event())
            answer = await _read_answer(client)
        assert _types(answer)[-2:] == ["audio-stop", "synthesize-stopped"], answer

    run_wyoming(StandInBackend(), talk, header_timeout=0.5, keepalive_timeout=1)


def test_a_streaming_request_whose_text_stops_coming_is_closed_after_the_stream_idle_timeout() -> (
    None
):
    async def talk(port: int, service: SpeechService, server: WyomingServer) -> None:
        async with AsyncTcpClient("127.0.0.1", port, read_timeout=WAIT_S) as client:
            started = time.monotonic()
            await client.write_event(SynthesizeStart().event())
            await client.write_event(SynthesizeChunk("Hello there. And").event())
            answer = await _read_answer(client)  # ends when the server closes
            waited = time.monotonic() - started
        types = _types(answer)
        assert "synthesize-stopped" not in types and "audio-chunk" in types, types
        assert waited >= 0.5
        assert service.synthesizer.open_streams == 0

    run_wyoming(StandInBackend(), talk, stream_idle_timeout=0.5, keepalive_timeout=60)


def test_a_streaming_request_still_waiting_for_text_at_the_end_of_the_grace_is_cut() -> None:
    async def talk(port: int, service: SpeechService, server: WyomingServer) -> None:
        async with AsyncTcpClient("127.0.0.1", port, read_timeout=WAIT_S) as client:
            await client.write_event(SynthesizeStart().event())
            await client.write_event(SynthesizeChunk("Hello there. And").event())
            first = await client.read_event()
            assert first is not None and first.type == "audio-start"
            server.begin_stopping(time.monotonic() + 0.3)
            answer = await _read_answer(client)
        types = _types(answer)
        assert types[-1] == "error" and Error.from_event(answer[-1]).code == "shutdown", types
        assert "synthesize-stopped" not in types

    run_wyoming(StandInBackend(), talk)


def test_stopping_lets_a_streaming_request_finish_within_the_grace() -> None:
    async def talk(port: int, service: SpeechService, server: WyomingServer) -> None:
        async with AsyncTcpClient("127.0.0.1", port, read_timeout=WAIT_S) as client:
            await client.write_event(SynthesizeStart().event())
            await client.write_event(SynthesizeChunk("Hello there. And").event())
            first = await client.read_event()
            assert first is not None and first.type == "audio-start"
            server.begin_stopping(time.monotonic() + WAIT_S)
            await client.write_event(SynthesizeChunk(" goodbye.").event())
            await client.write_event(SynthesizeStop().event())
            answer = await _read_answer(client)
            assert await client.read_event() is None  # then the connection is closed
        assert _types(answer)[-2:] == ["audio-stop", "synthesize-stopped"], answer
        assert sample(service, "tts_speech_requests_total", outcome="done") == 1

    run_wyoming(StandInBackend(), talk)
