"""The Wyoming server over the stand-in model on a loopback port, for the Wyoming unit tests."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Awaitable, Callable

from tts_service.config import Settings
from tts_service.serving import SpeechService
from tts_service.synthesis import Synthesizer
from tts_service.wyoming.server import WyomingServer

from .standin import CountingPhonemizer, StandInBackend, make_voice_store

WAIT_S = 30.0
"""Generous bound on waiting for something that happens at once (never reached when it works)."""


Talk = Callable[[int, SpeechService, WyomingServer], Awaitable[None]]


def run_wyoming(backend: StandInBackend, talk: Talk, **settings_fields: object) -> None:
    """Serve the Wyoming protocol over ``backend`` on a loopback port while ``talk`` runs."""
    settings = Settings(**{"warmup": False, **settings_fields})
    synthesizer = Synthesizer(backend, CountingPhonemizer(), settings)
    service = SpeechService(synthesizer, make_voice_store(), settings)
    sock = socket.create_server(("127.0.0.1", 0))

    async def main() -> None:
        server = WyomingServer(sock, lambda: service, synthesizer.metrics, settings)
        await server.start()
        try:
            await talk(sock.getsockname()[1], service, server)
        finally:
            await server.stop()

    try:
        asyncio.run(main())
    finally:
        synthesizer.shutdown()


def sample(service: SpeechService, name: str, **labels: str) -> float:
    value = service.synthesizer.metrics.registry.get_sample_value(name, labels or None)
    return value or 0.0
