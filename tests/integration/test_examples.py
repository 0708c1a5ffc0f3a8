"""The voice-agent framework examples (``examples/``) with the real frameworks against the real
server: a reply fed as an LLM writes it (a few characters at a time, a sentence end and an
abbreviation cut across pieces) comes back as audio the framework hands on, spoken as one turn of
the WebSocket for streamed text, and an interruption stops it. Both frameworks come with the
test extra; they are imported inside the tests only, as the examples import them.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.helpers import decode, metric, resample_to_16k, speech, word_error_rate
from tests.integration.conftest import RunningServer, start_server, stop_server
from tts_service.config import Settings

REPLY_PIECES = [
    "Hel", "lo the", "re! Your", " appoint", "ment with D", "r", ". Smi", "th is at", " ten",
    " tomor", "row mor", "ning", ". Ple", "ase arr", "ive a", " little", " ear", "ly."
]  # fmt: skip
"""How an LLM streams a reply: "Dr." and the end of the second sentence are cut across pieces."""
REPLY = "".join(REPLY_PIECES)
LONG_REPLY_PIECES = [
    piece
    for n in range(1, 16)
    for piece in (
        "This is sen", f"tence number {n} of a long", " reply that keeps", " the server busy", "."
    )
]  # fmt: skip
"""Fifteen sentences: far more audio than arrives before an interruption."""
KEY = "sk-examples-key"


@pytest.fixture(scope="module")
def keyed_server(
    model_settings: Settings, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningServer]:
    """A server that asks for an API key (``TTS_API_KEY``)."""
    running = start_server(tmp_path_factory.mktemp("keyed"), {"TTS_API_KEY": KEY})
    yield running
    stop_server(running)


def text_stream_turns(server: RunningServer, status: str) -> float:
    """Turns of the WebSocket for streamed text that ended with ``status``, from ``/metrics``."""
    text = httpx.get(f"{server.url}/metrics").text
    return metric(text, "tts_text_stream_turns_total", status=status)


def wait_until(condition: Callable[[], bool]) -> None:
    """Until ``condition`` holds: the server handles what a client sent after the client is done."""
    deadline = time.monotonic() + 60  # a hang, not a speed
    while not condition():
        assert time.monotonic() < deadline, "the server never got there"
        time.sleep(0.05)


def speech_streams(server: RunningServer) -> float:
    """Speech streams the server has run (an HTTP request or a turn each), from ``/metrics``."""
    text = httpx.get(f"{server.url}/metrics").text
    return sum(
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == "tts_speech_requests_total"
    )


def check_spoken(server: RunningServer, whisper: Any, pcm: bytes, text: str) -> None:
    """``pcm`` is ``text`` spoken whole: not silent, about as long as the HTTP API speaks it, and
    heard right by Whisper."""
    audio = decode(pcm, "pcm")
    assert audio.rms > 0.02
    expected = decode(speech(server, input=text, response_format="pcm").content, "pcm").duration
    assert 0.8 * expected <= audio.duration <= 1.25 * expected, (audio.duration, expected)
    segments, _ = whisper.transcribe(
        resample_to_16k(audio.samples, audio.sample_rate), language="en", beam_size=1
    )
    heard = " ".join(segment.text for segment in segments)
    assert word_error_rate(text, heard) <= 0.2, heard


def ws_url(server: RunningServer) -> str:
    return server.url.replace("http://", "ws://") + "/v1/audio/speech/stream"


# --- LiveKit Agents ------------------------------------------------------------------------------


async def livekit_stream(
    server: RunningServer, pieces: list[str], *, close_after: int = 0, api_key: str | None = None
) -> list[Any]:
    """The example's stream fed ``pieces``, as the agent's ``tts_node`` feeds it; the audio frames
    it gives, or with ``close_after``, those it still gives after being closed (as an interruption
    closes it) once that many came."""
    from livekit.agents import utils

    from examples.livekit_tts import KokoroStreamTTS

    async with utils.http_context.open():
        stream = KokoroStreamTTS(url=ws_url(server), api_key=api_key).stream()
        for piece in pieces:
            stream.push_text(piece)
        stream.end_input()
        if close_after:
            for _ in range(close_after):
                await anext(stream)
            await stream.aclose()
        return [event.frame async for event in stream]


def test_livekit_streams_a_reply_as_one_turn(server: RunningServer, whisper: Any) -> None:
    completed, streams = text_stream_turns(server, "completed"), speech_streams(server)
    frames = asyncio.run(livekit_stream(server, REPLY_PIECES))
    assert text_stream_turns(server, "completed") == completed + 1
    assert speech_streams(server) == streams + 1  # the whole reply: not a request per sentence
    assert {(frame.sample_rate, frame.num_channels) for frame in frames} == {(24_000, 1)}
    check_spoken(server, whisper, b"".join(bytes(frame.data) for frame in frames), REPLY)


def test_livekit_closing_the_stream_clears_the_turn(server: RunningServer) -> None:
    """The agent closes the stream when the user interrupts: no more audio comes, and the turn is
    cleared on the server (turn.clear) instead of spoken to its end."""
    completed = text_stream_turns(server, "completed")
    cleared = text_stream_turns(server, "cleared")
    assert asyncio.run(livekit_stream(server, LONG_REPLY_PIECES, close_after=1)) == []
    wait_until(lambda: text_stream_turns(server, "cleared") == cleared + 1)
    assert text_stream_turns(server, "completed") == completed


def test_livekit_sends_the_api_key(keyed_server: RunningServer) -> None:
    from livekit.agents import APIStatusError

    assert asyncio.run(livekit_stream(keyed_server, ["Hello there."], api_key=KEY))
    with pytest.raises(APIStatusError) as refused:
        asyncio.run(livekit_stream(keyed_server, ["Hello there."], api_key="sk-wrong"))
    assert refused.value.status_code == 403


# --- pipecat -------------------------------------------------------------------------------------


def pipecat_run(
    server: RunningServer,
    *replies: list[str],
    interrupt_after_audio: bool = False,
    api_key: str | None = None,
) -> list[list[Any]]:
    """Run a pipecat pipeline: the example's service, then a sink that collects the audio frames.
    Each reply is an LLM response (start, its text frames, end). With ``interrupt_after_audio``,
    an interruption is sent once the first reply's first audio reaches the sink, and the next
    reply only after that."""
    from pipecat.frames.frames import (
        EndFrame,
        Frame,
        InterruptionFrame,
        LLMFullResponseEndFrame,
        LLMFullResponseStartFrame,
        LLMTextFrame,
        TTSAudioRawFrame,
    )
    from pipecat.pipeline.pipeline import Pipeline
    from pipecat.pipeline.worker import PipelineParams, PipelineWorker
    from pipecat.processors.frame_processor import FrameDirection, FrameProcessor
    from pipecat.workers.runner import WorkerRunner

    from examples.pipecat_tts import KokoroStreamTTSService

    class Sink(FrameProcessor):
        def __init__(self) -> None:
            super().__init__()
            self.replies: list[list[TTSAudioRawFrame]] = [[]]
            self.first_audio = asyncio.Event()

        async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
            await super().process_frame(frame, direction)
            if isinstance(frame, TTSAudioRawFrame):
                self.replies[-1].append(frame)
                self.first_audio.set()
            elif isinstance(frame, InterruptionFrame):
                self.replies.append([])
            await self.push_frame(frame, direction)

    async def run() -> list[list[TTSAudioRawFrame]]:
        tts = KokoroStreamTTSService(url=ws_url(server), api_key=api_key)
        sink = Sink()
        worker = PipelineWorker(
            Pipeline([tts, sink]),
            params=PipelineParams(audio_out_sample_rate=24_000),
            idle_timeout_secs=None,
            enable_rtvi=False,
        )

        def response(pieces: list[str]) -> list[Frame]:
            text = [LLMTextFrame(piece) for piece in pieces]
            return [LLMFullResponseStartFrame(), *text, LLMFullResponseEndFrame()]

        async def feed() -> None:
            first, *rest = replies
            await worker.queue_frames(response(first))
            if interrupt_after_audio:
                await sink.first_audio.wait()
                await worker.queue_frame(InterruptionFrame())
            for reply in rest:
                await worker.queue_frames(response(reply))
            await worker.queue_frame(EndFrame())

        runner = WorkerRunner(handle_sigint=False)
        await runner.add_workers(worker)
        feeder = asyncio.create_task(feed())
        await runner.run()
        await feeder
        return sink.replies

    return asyncio.run(run())


def test_pipecat_streams_a_reply_as_one_turn(server: RunningServer, whisper: Any) -> None:
    completed, streams = text_stream_turns(server, "completed"), speech_streams(server)
    (frames,) = pipecat_run(server, REPLY_PIECES)
    assert text_stream_turns(server, "completed") == completed + 1
    assert speech_streams(server) == streams + 1  # the whole reply: not a request per sentence
    assert {(frame.sample_rate, frame.num_channels) for frame in frames} == {(24_000, 1)}
    check_spoken(server, whisper, b"".join(frame.audio for frame in frames), REPLY)


def test_pipecat_interruption_clears_the_turn(server: RunningServer, whisper: Any) -> None:
    """An interruption sends turn.clear: the server stops the turn, none of its audio comes after
    the interruption, and the next reply on the same connection is spoken whole, alone."""
    cleared = text_stream_turns(server, "cleared")
    before, after = pipecat_run(server, LONG_REPLY_PIECES, REPLY_PIECES, interrupt_after_audio=True)
    assert text_stream_turns(server, "cleared") == cleared + 1
    assert before
    assert {frame.context_id for frame in after}.isdisjoint(frame.context_id for frame in before)
    check_spoken(server, whisper, b"".join(frame.audio for frame in after), REPLY)


def test_pipecat_sends_the_api_key(keyed_server: RunningServer) -> None:
    (frames,) = pipecat_run(keyed_server, ["Hello there."], api_key=KEY)
    assert frames
