"""``python -m tests.unit.standin_server PORT DELAY [--uninterruptible]``: the service's own
server (``GracefulServer``) around the app with the stand-in backend, for the tests that need a
process of their own: stopping it. Each inference takes DELAY seconds; ``--uninterruptible``
makes it run on when the backend is interrupted (as PyTorch's does). Settings come from the
environment (``TTS_SHUTDOWN_GRACE``...); the log goes to stderr at debug."""

from __future__ import annotations

import signal
import sys

import uvicorn

from tts_service.app import create_app
from tts_service.config import Settings
from tts_service.logs import configure_logging
from tts_service.server import GracefulServer
from tts_service.websocket.protocol import GracefulWebSocketProtocol

from .standin import StandInBackend, make_voice_store


def main() -> None:
    port, delay = int(sys.argv[1]), float(sys.argv[2])
    settings = Settings(warmup=False)
    configure_logging("debug")
    backend = StandInBackend(delay=delay, interruptible="--uninterruptible" not in sys.argv[3:])
    app = create_app(settings, backend=backend, voices=make_voice_store())
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, log_config=None, ws=GracefulWebSocketProtocol
    )
    server = GracefulServer(config, grace=settings.shutdown_grace)
    # As ``tts-service serve`` does: uvicorn re-raises the stopping signal once it has stopped.
    for stop_signal in (signal.SIGINT, signal.SIGTERM):
        signal.signal(stop_signal, lambda signum, frame: None)
    server.run()


if __name__ == "__main__":
    main()
