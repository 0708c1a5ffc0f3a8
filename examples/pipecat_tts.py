"""Pipecat speaks through tts-service's WebSocket for streamed text.

``KokoroStreamTTSService`` is a pipecat TTS service that streams the LLM's reply into
``/v1/audio/speech/stream`` as the model writes it: one turn per LLM response (``turn.start``
when its first text comes, ``text.delta`` per text frame, ``turn.end`` at its end). The
server cuts the sentences itself, so the listener hears no gap between them, and an interruption
sends ``turn.clear``, which stops synthesis on the server at once. The audio comes back as raw
16-bit mono PCM at 24 kHz, pushed on as ``TTSAudioRawFrame``.

Copy this file into your bot and use the service in place of any other TTS service (needs
``pip install pipecat-ai``; tested with 1.14)::

    from pipecat_tts import KokoroStreamTTSService

    tts = KokoroStreamTTSService(
        url="ws://localhost:8880/v1/audio/speech/stream",
        api_key="...",  # TTS_API_KEY, if the server sets one
        voice="af_heart",
    )
    pipeline = Pipeline([transport.input(), stt, user_agg, llm, tts, transport.output(), asst_agg])

The protocol is described in the service's docs (Streamed text).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncGenerator
from typing import Any

from loguru import logger
from pipecat.frames.frames import Frame, StartFrame, TTSAudioRawFrame, TTSStoppedFrame
from pipecat.services.settings import TTSSettings
from pipecat.services.tts_service import TextAggregationMode, WebsocketTTSService
from websockets.asyncio.client import ClientConnection
from websockets.protocol import State

SAMPLE_RATE = 24_000
"""tts-service's pcm: 16-bit little-endian mono samples at 24 kHz."""


class KokoroStreamTTSService(WebsocketTTSService):
    """One tts-service turn per LLM response, over one WebSocket kept open between turns."""

    _websocket: ClientConnection | None

    def __init__(
        self,
        *,
        url: str = "ws://localhost:8880/v1/audio/speech/stream",
        api_key: str | None = None,
        voice: str = "af_heart",
        model: str = "kokoro",
        speed: float = 1.0,
        stop_frame_timeout_s: float = 30.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            # Every text frame goes to the server as it comes: the server cuts the sentences.
            text_aggregation_mode=TextAggregationMode.TOKEN,
            # How long a turn's audio may pause before pipecat gives up on it (3 s by default,
            # which a busy server's next chunk can pass, and audio after it would be dropped).
            # The server ends every turn with turn.done, so this is only a safety net.
            stop_frame_timeout_s=stop_frame_timeout_s,
            sample_rate=SAMPLE_RATE,
            push_start_frame=True,  # the base class opens an audio context per turn
            settings=TTSSettings(model=model, voice=voice, language=None),
            **kwargs,
        )
        self._url = url
        self._headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._speed = speed
        self._receive_task: asyncio.Task[None] | None = None
        self._open_turn: str | None = None  # the turn taking text (turn.start sent, no turn.end)
        # Turns the server has started and not finished, oldest first. Their audio comes in this
        # order, each turn's after the one before has finished, so binary frames belong to the
        # first of them.
        self._speaking: list[str] = []

    def can_generate_metrics(self) -> bool:
        return True

    # Connection: opened when the pipeline starts, kept for every turn.

    async def start(self, frame: StartFrame) -> None:
        await super().start(frame)
        await self._connect()

    async def _connect(self) -> None:
        await super()._connect()
        await self._connect_websocket()
        if self._websocket and not self._receive_task:
            self._receive_task = self.create_task(self._receive_task_handler(self._report_error))

    async def _disconnect(self) -> None:
        await super()._disconnect()
        if self._receive_task:
            await self.cancel_task(self._receive_task)
            self._receive_task = None
        await self._disconnect_websocket()

    async def _connect_websocket(self) -> None:
        if self._websocket and self._websocket.state is State.OPEN:
            return
        try:
            self._websocket = await self._websocket_connect(
                self._url, additional_headers=self._headers
            )
        except Exception as e:
            self._websocket = None
            await self.push_error(error_msg=f"cannot connect to {self._url}: {e}", exception=e)
            await self._call_event_handler("on_connection_error", str(e))
            return
        self._open_turn = None
        self._speaking = []
        await self._call_event_handler("on_connected")

    async def _disconnect_websocket(self) -> None:
        try:
            if self._websocket:
                await self._websocket.close()
        finally:
            self._websocket = None
            await self._call_event_handler("on_disconnected")

    async def _send(self, message: dict[str, Any]) -> None:
        if self._websocket:
            await self._websocket.send(json.dumps(message))

    # Text in: the base class calls run_tts with each text frame of the LLM response, all with
    # the response's context id, and flush_audio with that id at the response's end.

    async def run_tts(self, text: str, context_id: str) -> AsyncGenerator[Frame | None, None]:
        if not self._websocket or self._websocket.state is not State.OPEN:
            await self._connect()
        if context_id != self._open_turn:
            await self.flush_audio(self._open_turn)
            await self._send(
                {
                    "type": "turn.start",
                    "turn_id": context_id,
                    "voice": self._settings.voice,
                    "model": self._settings.model,
                    "response_format": "pcm",
                    "speed": self._speed,
                }
            )
            self._open_turn = context_id
        await self._send({"type": "text.delta", "text": text})
        await self.start_tts_usage_metrics(text)
        yield None  # the audio arrives in _receive_messages

    async def flush_audio(self, context_id: str | None = None) -> None:
        if context_id is not None and context_id == self._open_turn:
            await self._send({"type": "turn.end"})
            self._open_turn = None

    async def on_audio_context_interrupted(self, context_id: str) -> None:
        if context_id == self._open_turn or context_id in self._speaking:
            # One turn.clear stops the turn speaking and drops the turns queued behind it. The
            # audio they had already sent is dropped here: their contexts are gone.
            await self._send({"type": "turn.clear"})
            self._open_turn = None
            self._speaking = []
        await super().on_audio_context_interrupted(context_id)

    # Audio and events out.

    async def _receive_messages(self) -> None:
        if self._websocket is None:
            return
        async for message in self._websocket:
            if isinstance(message, bytes):
                await self._on_audio(message)
            else:
                await self._on_event(json.loads(message))

    async def _on_audio(self, audio: bytes) -> None:
        if not self._speaking:
            return  # audio of a cleared turn, still on its way
        context_id = self._speaking[0]
        await self.stop_ttfb_metrics()
        frame = TTSAudioRawFrame(
            audio=audio, sample_rate=SAMPLE_RATE, num_channels=1, context_id=context_id
        )
        await self.append_to_audio_context(context_id, frame)

    async def _on_event(self, event: dict[str, Any]) -> None:
        kind, turn_id = event["type"], event.get("turn_id", "")
        if kind == "turn.started":
            self._speaking.append(turn_id)
        elif kind == "turn.done":
            if turn_id in self._speaking:
                self._speaking.remove(turn_id)
            if event.get("status") == "failed":
                error = event.get("error") or {}
                await self.push_error(error_msg=f"tts-service turn failed: {error.get('message')}")
            await self._end_context(turn_id)
        elif kind == "error":
            await self.push_error(error_msg=f"tts-service: {event['error'].get('message')}")
            if turn_id == self._open_turn and turn_id not in self._speaking:
                self._open_turn = None  # its turn.start was refused: no turn.done will come
                await self._end_context(turn_id)
        else:
            logger.trace(f"{self}: {event}")

    async def _end_context(self, context_id: str) -> None:
        if self.audio_context_available(context_id):
            await self.append_to_audio_context(context_id, TTSStoppedFrame(context_id=context_id))
            await self.remove_audio_context(context_id)
