"""LiveKit Agents speaks through tts-service's WebSocket for streamed text.

``KokoroStreamTTS`` is a LiveKit ``tts.TTS`` that streams (``capabilities.streaming``), so the
agent hands it the LLM's reply as it is written instead of cutting it into sentences and making
one request each. Each ``stream()`` is one turn on ``/v1/audio/speech/stream``: every pushed
text piece is sent as ``text.delta``, ``flush()`` as ``text.flush``, the end of input as
``turn.end``; the server cuts the sentences and sends raw 16-bit mono PCM at 24 kHz, which is
emitted as it arrives. Closing the stream (the agent does when the user interrupts) sends
``turn.clear``, which stops synthesis on the server at once, and closes its connection.
``synthesize(text)`` speaks a whole text as one turn.

Copy this file into your agent and use it in place of any other TTS (needs
``pip install livekit-agents``; tested with 1.8.9)::

    from livekit_tts import KokoroStreamTTS

    session = AgentSession(
        stt=..., llm=...,
        tts=KokoroStreamTTS(
            url="ws://localhost:8880/v1/audio/speech/stream",
            api_key="...",  # TTS_API_KEY, if the server sets one
            voice="af_heart",
        ),
    )

The protocol is described in the service's docs (Streamed text).
"""

from __future__ import annotations

import asyncio
import contextlib
import json

import aiohttp
from livekit.agents import (
    DEFAULT_API_CONNECT_OPTIONS,
    APIConnectionError,
    APIConnectOptions,
    APIError,
    APIStatusError,
    APITimeoutError,
    tts,
    utils,
)

SAMPLE_RATE = 24_000
"""tts-service's pcm: 16-bit little-endian mono samples at 24 kHz."""


class KokoroStreamTTS(tts.TTS):
    """tts-service as a streaming LiveKit TTS: each ``stream()`` is one turn of the WebSocket."""

    def __init__(
        self,
        *,
        url: str = "ws://localhost:8880/v1/audio/speech/stream",
        api_key: str | None = None,
        voice: str = "af_heart",
        model: str = "kokoro",
        speed: float = 1.0,
        http_session: aiohttp.ClientSession | None = None,
    ) -> None:
        super().__init__(
            capabilities=tts.TTSCapabilities(streaming=True),
            sample_rate=SAMPLE_RATE,
            num_channels=1,
        )
        self._url = url
        self._headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._turn = {"voice": voice, "model": model, "response_format": "pcm", "speed": speed}
        self._session = http_session

    @property
    def model(self) -> str:
        return str(self._turn["model"])

    @property
    def provider(self) -> str:
        return "tts-service"

    def synthesize(
        self, text: str, *, conn_options: APIConnectOptions = DEFAULT_API_CONNECT_OPTIONS
    ) -> tts.ChunkedStream:
        return self._synthesize_with_stream(text, conn_options=conn_options)  # one whole turn

    def stream(
        self, *, conn_options: APIConnectOptions = DEFAULT_API_CONNECT_OPTIONS
    ) -> KokoroSynthesizeStream:
        return KokoroSynthesizeStream(tts=self, conn_options=conn_options)

    async def _connect(self, timeout: float) -> aiohttp.ClientWebSocketResponse:
        session = self._session or utils.http_context.http_session()
        try:
            return await asyncio.wait_for(
                session.ws_connect(self._url, headers=self._headers), timeout
            )
        except TimeoutError:
            raise APITimeoutError() from None
        except aiohttp.WSServerHandshakeError as e:  # 403: a missing or wrong API key
            raise APIStatusError(e.message, status_code=e.status) from None
        except aiohttp.ClientError as e:
            raise APIConnectionError(type(e).__name__) from e


class KokoroSynthesizeStream(tts.SynthesizeStream):
    """One turn on its own connection: text goes out as it is pushed, audio comes back."""

    def __init__(self, *, tts: KokoroStreamTTS, conn_options: APIConnectOptions) -> None:
        super().__init__(tts=tts, conn_options=conn_options)
        self._tts: KokoroStreamTTS = tts

    async def _run(self, output_emitter: tts.AudioEmitter) -> None:
        turn_id = utils.shortuuid()
        output_emitter.initialize(
            request_id=turn_id,
            sample_rate=SAMPLE_RATE,
            num_channels=1,
            mime_type="audio/pcm",
            stream=True,
        )
        output_emitter.start_segment(segment_id=turn_id)
        async with await self._tts._connect(self._conn_options.timeout) as ws:
            await ws.send_json({"type": "turn.start", "turn_id": turn_id, **self._tts._turn})
            sender = asyncio.create_task(self._send_text(ws))
            try:
                await self._receive_audio(ws, output_emitter)
            except asyncio.CancelledError:  # closed: the user interrupted
                with contextlib.suppress(ConnectionError, aiohttp.ClientError):
                    await ws.send_json({"type": "turn.clear"})  # stops synthesis at once
                raise
            finally:
                await utils.aio.gracefully_cancel(sender)
        output_emitter.end_segment()

    async def _send_text(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        async for piece in self._input_ch:
            if isinstance(piece, self._FlushSentinel):
                await ws.send_json({"type": "text.flush"})
            else:
                self._mark_started()
                await ws.send_json({"type": "text.delta", "text": piece})
        await ws.send_json({"type": "turn.end"})

    async def _receive_audio(
        self, ws: aiohttp.ClientWebSocketResponse, output_emitter: tts.AudioEmitter
    ) -> None:
        async for message in ws:
            if message.type == aiohttp.WSMsgType.BINARY:
                output_emitter.push(message.data)
            elif message.type == aiohttp.WSMsgType.TEXT:
                event = json.loads(message.data)
                if event["type"] == "turn.done":
                    if event["status"] != "completed":  # failed: the server busy, say (retried)
                        error = event.get("error") or {}
                        raise APIError(f"tts-service: {error.get('message')}", body=event)
                    return
                if event["type"] == "error":  # a refused message: a wrong voice, say
                    reason = event["error"]["message"]
                    raise APIError(f"tts-service: {reason}", body=event, retryable=False)
        raise APIConnectionError(f"tts-service closed the connection ({ws.close_code})")
