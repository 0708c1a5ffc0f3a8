"""Barge-in over the WebSocket: a long reply is being written and spoken, the listener interrupts
(``turn.clear``) once its audio has started, and a short turn follows on the same connection.
How soon the audio stops, whether the server cancelled the synthesis it had queued (its
``/metrics`` before and after), and whether the next turn is served normally."""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import asdict, dataclass, field
from typing import Any

import httpx
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import WebSocketException

from benchmarks.measure import PCM_BYTES_PER_SECOND
from benchmarks.simulated_llm import emit
from benchmarks.soak import scrape
from benchmarks.streamed_clients import Speaker

LATE_FRAME_GOAL = 0.05
"""No audio frame may arrive later than this many seconds after ``turn.clear`` was sent."""


@dataclass
class Clear:
    first_audio: float = float("nan")
    """Seconds from the long reply's first token to its first audio (when the clear was sent)."""
    text_sent: int = 0
    """Characters of the long reply written before the clear."""
    last_frame_after_clear: float = 0.0
    """Seconds from sending ``turn.clear`` to the last audio frame received (0: none came)."""
    frames_after_clear: int = 0
    audio_after_clear: float = 0.0
    """Seconds of audio in those frames."""
    done_after_clear: float = float("nan")
    """Seconds from sending ``turn.clear`` to ``turn.done``."""
    status: str = ""
    spoken_until: int = -1
    counters: dict[str, float] = field(default_factory=dict)
    """How each cancellation and streamed-text counter of ``/metrics`` moved over the turn."""
    next_status: str = ""
    next_first_audio: float = float("nan")
    next_audio_seconds: float = 0.0
    error: str | None = None

    @property
    def goal_met(self) -> bool:
        return not self.error and self.last_frame_after_clear <= LATE_FRAME_GOAL

    def summary(self) -> dict[str, Any]:
        return asdict(self) | {"goal_met": self.goal_met}


def _moved(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    def watched(name: str) -> bool:  # the counters (not their _created times, not gauges)
        counter = name.partition("{")[0].endswith("_total")
        return counter and ("cancel" in name or name.startswith("tts_text_stream"))

    return {name: after[name] - before.get(name, 0.0) for name in sorted(after)
            if watched(name) and after[name] != before.get(name, 0.0)}  # fmt: skip


Inbox = asyncio.Queue[tuple[float, str | bytes]]
"""Every message of the connection with the time it was read, by a reader that never pauses: a
frame that had arrived before the clear was sent is not taken for one sent after it."""


async def _read_all(ws: ClientConnection, inbox: Inbox) -> None:
    async for message in ws:
        await inbox.put((time.monotonic(), message))
    await inbox.put((time.monotonic(), ""))  # closed


async def _turn(inbox: Inbox, frames: list[tuple[float, int]], *, until: str) -> dict[str, Any]:
    """Messages up to the first audio frame (``until="audio"``) or ``turn.done``; each audio
    frame as (time read, bytes) in ``frames``."""
    while True:
        at, message = await inbox.get()
        if isinstance(message, bytes):
            frames.append((at, len(message)))
            if until == "audio":
                return {}
            continue
        if not message:
            raise RuntimeError("the connection closed before turn.done")
        event = json.loads(message)
        if event["type"] == "turn.done":
            return dict(event)
        if event["type"] == "error":
            raise RuntimeError(f"{event['error'].get('code')}: {event['error']['message']}")


async def clear(speaker: Speaker, long_reply: list[str], short_reply: str, rate: float) -> Clear:
    """Write ``long_reply`` (tokens) at ``rate``, clear at its first audio, then speak
    ``short_reply`` as a turn on the same connection."""
    result = Clear()
    ws_url = speaker.url.replace("http", "ws", 1) + "/v1/audio/speech/stream"
    try:
        async with connect(ws_url, additional_headers=speaker.headers, max_size=None) as ws:
            inbox: Inbox = asyncio.Queue()
            reader = asyncio.create_task(_read_all(ws, inbox))
            try:
                await _clear_then_next(ws, inbox, result, speaker, long_reply, short_reply, rate)
            finally:
                reader.cancel()
    except (OSError, TimeoutError, RuntimeError, KeyError, WebSocketException) as exc:
        result.error = f"{type(exc).__name__}: {exc}"
    return result


async def _clear_then_next(
    ws: ClientConnection, inbox: Inbox, result: Clear, speaker: Speaker, long_reply: list[str],
    short_reply: str, rate: float,
) -> None:  # fmt: skip
    start = {"type": "turn.start", "model": speaker.model, "voice": speaker.voice,
             "response_format": "pcm"}  # fmt: skip
    with httpx.Client(timeout=speaker.timeout) as metrics:
        before = scrape(metrics, speaker.url)
    t0 = time.monotonic()
    await ws.send(json.dumps(start))

    async def write() -> None:
        async for _, piece in emit(long_reply, rate, t0):
            await ws.send(json.dumps({"type": "text.delta", "text": piece}))
            result.text_sent += len(piece)

    writer = asyncio.create_task(write())
    frames: list[tuple[float, int]] = []
    try:
        await asyncio.wait_for(_turn(inbox, frames, until="audio"), speaker.timeout)
    finally:
        writer.cancel()  # the listener spoke: the model's reply is abandoned
    result.first_audio = frames[0][0] - t0
    cleared_at = time.monotonic()
    await ws.send(json.dumps({"type": "turn.clear"}))
    done = await asyncio.wait_for(_turn(inbox, frames, until="done"), speaker.timeout)
    result.done_after_clear = time.monotonic() - cleared_at
    after = [(at - cleared_at, size) for at, size in frames if at > cleared_at]
    result.frames_after_clear = len(after)
    result.audio_after_clear = sum(size for _, size in after) / PCM_BYTES_PER_SECOND
    result.last_frame_after_clear = max((at for at, _ in after), default=0.0)
    result.status, result.spoken_until = done["status"], done.get("spoken_until", -1)
    await asyncio.sleep(0.5)  # the server counts a cancelled chunk as its worker stops
    with httpx.Client(timeout=speaker.timeout) as metrics:
        result.counters = _moved(before, scrape(metrics, speaker.url))

    t1 = time.monotonic()
    await ws.send(json.dumps(start | {"text": short_reply}))
    await ws.send(json.dumps({"type": "turn.end"}))
    frames = []
    done = await asyncio.wait_for(_turn(inbox, frames, until="done"), speaker.timeout)
    result.next_status = done["status"]
    result.next_first_audio = frames[0][0] - t1 if frames else float("nan")
    result.next_audio_seconds = sum(size for _, size in frames) / PCM_BYTES_PER_SECOND
