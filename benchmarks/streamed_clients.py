"""The ways a voice agent can speak a reply its language model is still writing, each timed from the
model's first token: our WebSocket (one turn, a ``text.delta`` per token), and what frameworks do
with ``POST /v1/audio/speech`` (a request per sentence, one at a time or all at once). Every byte
of pcm is recorded with its arrival time, in the order a player would play it."""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass, field
from typing import Any

import httpx
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus, WebSocketException

from benchmarks.measure import PCM_BYTES_PER_SECOND, Measurement, stalls
from benchmarks.simulated_llm import SentenceSplitter, emit, first_sentence_token

GOAL_FACTOR = 1.15
"""First audio may take the model's own time for the first chunk, this many times over, after the
chunk's text was complete."""


@dataclass
class Speaker:
    """Where and how to speak: the server, its key and the request settings every mode uses."""

    url: str
    api_key: str | None
    model: str
    voice: str
    timeout: float

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}

    def body(self, text: str, **extra: Any) -> dict[str, Any]:
        return {"model": self.model, "voice": self.voice, "input": text,
                "response_format": "pcm", **extra}  # fmt: skip


@dataclass
class Run:
    """One reply spoken one way. Times are seconds from the model's first token."""

    scenario: str
    mode: str
    rate: float
    reply: int
    chunk_ready: float = float("nan")
    """When the text of the first chunk the server can speak was complete."""
    model_time: float = float("nan")
    """The model's time for the reply's first sentence, measured on the idle server."""
    first_audio: float = float("nan")
    arrivals: list[tuple[float, int]] = field(default_factory=list)
    requests: int = 0
    refused: int = 0
    """Requests (sentences, turns) the server refused as busy (HTTP 429; ``server_busy`` on the
    WebSocket): their audio is missing, as a framework that does not retry would miss it."""
    error: str | None = None
    status: str = ""
    """``turn.done``'s status (WebSocket), ``not supported`` (Wyoming streaming), else empty."""

    @property
    def goal(self) -> float:
        return self.chunk_ready + GOAL_FACTOR * self.model_time

    @property
    def goal_met(self) -> bool:
        return not self.refused and self.first_audio <= self.goal

    @property
    def last_audio(self) -> float:
        """When the last byte of audio arrived."""
        return max((at for at, _ in self.arrivals), default=float("nan"))

    @property
    def audio_seconds(self) -> float:
        return sum(size for _, size in self.arrivals) / PCM_BYTES_PER_SECOND

    @property
    def gap(self) -> float:
        """How long a listener who plays from the first byte, in real time, waits for audio."""
        if self.error or not self.arrivals:
            return float("nan")
        played = Measurement(case="", mode=self.mode, fmt="pcm", voice="", stream=True, chars=0,
                             bytes=sum(size for _, size in self.arrivals),
                             audio_seconds=self.audio_seconds, arrivals=self.arrivals)  # fmt: skip
        return sum(stalls(played))

    def summary(self) -> dict[str, Any]:
        return {"scenario": self.scenario, "mode": self.mode, "rate": self.rate,
                "reply": self.reply, "chunk_ready": self.chunk_ready,
                "model_time": self.model_time, "goal": self.goal, "goal_met": self.goal_met,
                "first_audio": self.first_audio, "last_audio": self.last_audio, "gap": self.gap,
                "audio_seconds": self.audio_seconds, "requests": self.requests,
                "refused": self.refused, "status": self.status, "error": self.error}  # fmt: skip


async def model_time(client: httpx.AsyncClient, speaker: Speaker, text: str) -> float:
    """Seconds for a whole, non-streamed pcm response for ``text``: the model's time for it."""
    started = time.monotonic()
    response = await client.post(f"{speaker.url}/v1/audio/speech", headers=speaker.headers,
                                 json=speaker.body(text, stream=False))  # fmt: skip
    response.raise_for_status()
    return time.monotonic() - started


async def websocket(run: Run, speaker: Speaker, pieces: list[str]) -> Run:
    """One turn: ``turn.start`` (pcm), a ``text.delta`` per token, ``turn.end``; binary frames are
    the audio, ``turn.done`` ends it."""
    ws_url = speaker.url.replace("http", "ws", 1) + "/v1/audio/speech/stream"
    start = {"type": "turn.start", "model": speaker.model, "voice": speaker.voice,
             "response_format": "pcm"}  # fmt: skip
    ready = first_sentence_token(pieces)
    run.requests = 1
    try:
        async with connect(ws_url, additional_headers=speaker.headers, max_size=None) as ws:
            t0 = time.monotonic()

            async def write() -> None:
                await ws.send(json.dumps(start))
                sent = 0
                async for at, piece in emit(pieces, run.rate, t0):
                    await ws.send(json.dumps({"type": "text.delta", "text": piece}))
                    if sent == ready:
                        run.chunk_ready = at
                    sent += 1
                await ws.send(json.dumps({"type": "turn.end"}))

            async def read() -> None:
                started = False
                async for message in ws:
                    if isinstance(message, bytes):
                        run.arrivals.append((time.monotonic() - t0, len(message)))
                        continue
                    event = json.loads(message)
                    if event["type"] == "turn.started":
                        started = True
                    elif event["type"] == "error" and _busy(event["error"]):
                        run.refused = 1  # turn.done (failed) follows
                    elif event["type"] == "error" and not started:
                        raise RuntimeError(f"turn refused: {event['error']}")
                    elif event["type"] == "error":
                        run.error = f"{event['error'].get('code')}: {event['error']['message']}"
                    elif event["type"] == "turn.done":
                        run.status = event["status"]
                        if _busy(event.get("error") or {}):
                            run.refused = 1
                        elif event["status"] != "completed":
                            run.error = f"turn {event['status']}: {event.get('error')}"
                        return
                raise RuntimeError("the connection closed before turn.done")

            writer = asyncio.create_task(write())
            try:
                await asyncio.wait_for(read(), speaker.timeout)
            finally:
                writer.cancel()
    except (OSError, TimeoutError, RuntimeError, InvalidStatus, WebSocketException) as exc:
        run.error = f"{type(exc).__name__}: {exc}"
    return _first_audio(run)


async def per_sentence(
    run: Run, speaker: Speaker, pieces: list[str], client: httpx.AsyncClient, *, concurrent: bool
) -> Run:
    """A ``POST /v1/audio/speech`` (pcm, streamed) per sentence as the splitter completes it: the
    next one once the one before has been read to its end, or (``concurrent``) each at once."""
    queue: asyncio.Queue[str | None] = asyncio.Queue()
    t0 = time.monotonic()

    async def write() -> None:
        splitter = SentenceSplitter()
        async for at, piece in emit(pieces, run.rate, t0):
            for sentence in splitter.feed(piece):
                if run.chunk_ready != run.chunk_ready:  # NaN: this is the first
                    run.chunk_ready = at
                await queue.put(sentence)
        for sentence in splitter.flush():
            if run.chunk_ready != run.chunk_ready:
                run.chunk_ready = time.monotonic() - t0
            await queue.put(sentence)
        await queue.put(None)

    async def post(sentence: str) -> list[tuple[float, int]]:
        arrivals: list[tuple[float, int]] = []
        async with client.stream("POST", f"{speaker.url}/v1/audio/speech", headers=speaker.headers,
                                 json=speaker.body(sentence)) as response:  # fmt: skip
            if response.status_code == 429:
                await response.aread()
                run.refused += 1
                return arrivals  # the listener hears nothing of this sentence
            if response.status_code != 200:
                await response.aread()
                raise RuntimeError(f"HTTP {response.status_code}: {response.text[:200]}")
            async for piece in response.aiter_raw(1024):
                arrivals.append((time.monotonic() - t0, len(piece)))
        return arrivals

    writer = asyncio.create_task(write())
    pending: list[asyncio.Task[list[tuple[float, int]]]] = []
    try:
        while (sentence := await queue.get()) is not None:
            run.requests += 1
            if concurrent:
                pending.append(asyncio.create_task(post(sentence)))
            else:
                run.arrivals += await post(sentence)
        for arrivals in await asyncio.gather(*pending):
            run.arrivals += arrivals  # in the reply's order: the order they are played
    except (httpx.HTTPError, RuntimeError) as exc:
        run.error = f"{type(exc).__name__}: {exc}"
    finally:
        writer.cancel()
        for task in pending:
            task.cancel()
    return _first_audio(run)


def _busy(error: dict[str, Any]) -> bool:
    """An error that says the server is busy: admission refused the turn."""
    return error.get("code") == "server_busy"


def _first_audio(run: Run) -> Run:
    if run.arrivals and not run.error:
        run.first_audio = run.arrivals[0][0]
    return run
