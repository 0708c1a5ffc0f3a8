"""Home Assistant's two ways to have a Wyoming server speak a reply being written, timed like the
HTTP and WebSocket modes (see ``streamed_clients``): the streaming form (``synthesize-start``, a
``synthesize-chunk`` per token, ``synthesize-stop``) and the whole text in one ``synthesize`` once
the reply is written."""

from __future__ import annotations

import asyncio
import time

from wyoming.audio import AudioChunk
from wyoming.client import AsyncTcpClient
from wyoming.error import Error
from wyoming.info import Describe, Info
from wyoming.tts import (
    Synthesize,
    SynthesizeChunk,
    SynthesizeStart,
    SynthesizeStop,
    SynthesizeStopped,
    SynthesizeVoice,
)

from benchmarks.simulated_llm import emit, first_sentence_token
from benchmarks.streamed_clients import Run

NOT_SUPPORTED = "not supported"


async def supports_streaming(host: str, port: int, timeout: float) -> bool:
    """What the server's ``info`` says of the streaming form."""
    client = AsyncTcpClient(host, port, connect_timeout=timeout, read_timeout=timeout)
    await client.connect()
    try:
        await client.write_event(Describe().event())
        while (event := await client.read_event()) is not None:
            if Info.is_type(event.type):
                return any(p.supports_synthesize_streaming for p in Info.from_event(event).tts)
        raise ConnectionError("the Wyoming server hung up before its info")
    finally:
        await client.disconnect()


async def wyoming(
    run: Run, address: tuple[str, int], voice: str, pieces: list[str], timeout: float,
    *, streaming: bool, supported: bool,
) -> Run:  # fmt: skip
    """Speak ``pieces`` written at ``run.rate`` over a fresh connection; ``streaming`` picks the
    form. The streaming form on a server whose ``info`` does not offer it is reported as
    ``not supported`` and not sent (such a server ignores it, so it would never answer)."""
    if streaming and not supported:
        run.status = NOT_SUPPORTED
        return run
    client = AsyncTcpClient(*address, connect_timeout=timeout, read_timeout=timeout)
    run.requests = 1
    the_voice = SynthesizeVoice(name=voice)
    writer: asyncio.Task[None] | None = None
    try:
        if streaming:  # a connection from the reply's start, as Home Assistant opens it
            await client.connect()
            t0 = time.monotonic()
            writer = asyncio.create_task(_write_stream(client, run, the_voice, pieces, t0))
        else:  # Home Assistant connects for each synthesize, once it has the text
            t0 = time.monotonic()
            async for _ in emit(pieces, run.rate, t0):
                pass
            run.chunk_ready = time.monotonic() - t0  # the whole reply is the first text
            await client.connect()
            await client.write_event(Synthesize("".join(pieces), voice=the_voice).event())

        async def read() -> None:
            while (event := await client.read_event()) is not None:
                if AudioChunk.is_type(event.type):
                    run.arrivals.append((time.monotonic() - t0, len(event.payload or b"")))
                elif Error.is_type(event.type):
                    error = Error.from_event(event)
                    if error.code != "server_busy":
                        raise RuntimeError(error.text)
                    run.refused = 1
                    return
                elif (streaming and SynthesizeStopped.is_type(event.type)) or (
                    not streaming and event.type == "audio-stop"
                ):
                    return
            raise ConnectionError("the Wyoming server hung up before the end of the audio")

        try:
            await asyncio.wait_for(read(), timeout)
        finally:
            if writer is not None:
                writer.cancel()
    except (OSError, TimeoutError, RuntimeError) as exc:
        run.error = f"{type(exc).__name__}: {exc}"
    finally:
        await client.disconnect()
    if run.arrivals and not run.error:
        run.first_audio = run.arrivals[0][0]
    return run


async def _write_stream(
    client: AsyncTcpClient, run: Run, voice: SynthesizeVoice, pieces: list[str], t0: float
) -> None:
    """``synthesize-start``, a ``synthesize-chunk`` per token as it is written, ``synthesize-stop``."""
    ready = first_sentence_token(pieces)
    await client.write_event(SynthesizeStart(voice=voice).event())
    sent = 0
    async for at, piece in emit(pieces, run.rate, t0):
        await client.write_event(SynthesizeChunk(text=piece).event())
        if sent == ready:
            run.chunk_ready = at
        sent += 1
    await client.write_event(SynthesizeStop().event())
