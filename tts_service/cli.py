"""Command line: ``tts-service serve``, ``fetch``, ``convert``, ``export-onnx``, ``healthcheck`` and
``settings``."""

from __future__ import annotations

import errno
import logging
import signal
import socket
import sys
import urllib.error
import urllib.request
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any

import click
from pydantic import ValidationError

from tts_service.assets import AssetError, ModelFiles, ensure_assets
from tts_service.backends import BACKENDS, prepare_backend, resolve_backend_name
from tts_service.config import Settings
from tts_service.loading import start_loading
from tts_service.logs import configure_logging, library_level

if TYPE_CHECKING:
    from starlette.types import Scope

logger = logging.getLogger(__name__)

LISTEN_BACKLOG = 2048
"""uvicorn's default backlog."""


def _settings(**flags: object) -> Settings:
    """Settings from the environment and the flags given. A bad value, from either, is one line
    (``error: TTS_PORT='abc': must be an integer from 1 to 65535``) and exit status 2."""
    given: dict[str, Any] = {key: value for key, value in flags.items() if value is not None}
    try:
        return Settings(**given)
    except ValidationError as exc:
        from tts_service.config_reference import setting_error

        click.echo(f"error: {setting_error(exc, given)}", err=True)
        sys.exit(2)


def _listen(host: str, port: int, flag: str = "--port or TTS_PORT") -> socket.socket:
    """The server's socket, bound and listening before the model loads: a port in use is one
    line and exit status 1 at once. uvicorn then serves on this very socket, so no other
    process can take the port in between."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    where = f"[{host}]:{port}" if family == socket.AF_INET6 else f"{host}:{port}"
    sock = socket.socket(family, socket.SOCK_STREAM)
    # As uvicorn does: reuse a port whose old connections linger in TIME_WAIT (not one that a
    # live socket listens on: on Linux, that still fails).
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
        sock.listen(LISTEN_BACKLOG)
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            message = (
                f"{where} is already in use (another server listens there); stop it or choose "
                f"another port with {flag}"
            )
        else:
            message = f"cannot listen on {where}: {exc.strerror or exc}"
        click.echo(f"error: {message}", err=True)
        sys.exit(1)
    return sock


def _ensure(settings: Settings, fetch: bool) -> ModelFiles:
    """The ONNX model and voices, plus the files of the chosen backend (if it has its own)."""
    try:
        files = ensure_assets(settings, fetch=fetch)
        prepare_backend(settings, resolve_backend_name(settings.backend), build=fetch)
        return files
    except AssetError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="tts-service", message="tts-service %(version)s")
def main() -> None:
    """OpenAI-compatible text-to-speech server streaming Kokoro-82M sentence by sentence.

    Every option can also be set with a TTS_* environment variable (see README)."""


# Values of the options that are settings are checked by Settings, like the environment's.
@main.command()
@click.option("--host", help="Bind address [TTS_HOST, default 127.0.0.1].")
@click.option("--port", metavar="PORT", help="Port, 1-65535 [TTS_PORT, default 8880].")
@click.option(
    "--wyoming-port",
    metavar="PORT",
    help="Also serve Home Assistant's Wyoming protocol on this port [TTS_WYOMING_PORT, default off].",
)
@click.option("--models-dir", type=click.Path(), help="Model cache [TTS_MODELS_DIR].")
@click.option(
    "--log-level",
    metavar="LEVEL",
    help="debug, info, warning or error [TTS_LOG_LEVEL, default info]. debug adds the service's "
    "own detail (a line per synthesized chunk); libraries and the access log stay at info.",
)
@click.option("--fetch/--no-fetch", default=True, help="Fetch missing model files before starting.")
def serve(
    host: str | None,
    port: str | None,
    wyoming_port: str | None,
    models_dir: str | None,
    log_level: str | None,
    fetch: bool,
) -> None:
    """Fetch the model if needed, then serve the API on HOST:PORT.

    SIGTERM or Ctrl+C stops it gracefully: no new connections, streams in progress get
    TTS_SHUTDOWN_GRACE seconds to finish, and the process is gone a few seconds after that at
    most; exit status 0 (1 if the model failed to load)."""
    settings = _settings(
        host=host, port=port, wyoming_port=wyoming_port, models_dir=models_dir, log_level=log_level
    )
    configure_logging(settings.log_level)
    sock = _listen(settings.host, settings.port)
    wyoming_sock = None
    if settings.wyoming_port is not None:
        wyoming_sock = _listen(
            settings.host, settings.wyoming_port, "--wyoming-port or TTS_WYOMING_PORT"
        )
    files = _ensure(settings, fetch)
    loading = start_loading(settings, files)  # overlaps the imports below (see loading.py)

    import uvicorn

    from tts_service.app import create_app
    from tts_service.connections import (
        MAX_HEAD_BYTES,
        connection_limits,
        guarded_protocol,
        raise_open_file_limit,
    )
    from tts_service.server import GracefulServer
    from tts_service.websocket.protocol import GracefulWebSocketProtocol

    server: GracefulServer | None = None

    def stop() -> None:
        if server is not None:
            server.should_exit = True

    def abort(scope: Scope) -> bool:
        return server is not None and server.abort(scope)

    app = create_app(
        settings, files=files, loading=loading, on_fatal=stop, abort_connection=abort,
        wyoming_socket=wyoming_sock,
    )  # fmt: skip
    raise_open_file_limit()
    protocol = guarded_protocol(connection_limits(settings), app.state.service.error_response)
    config = uvicorn.Config(
        app, host=settings.host, port=settings.port, log_level=library_level(settings.log_level),
        log_config=None, http=protocol, h11_max_incomplete_event_size=MAX_HEAD_BYTES,
        ws=GracefulWebSocketProtocol, ws_max_size=settings.max_request_bytes,
        timeout_keep_alive=settings.keepalive_timeout,
        loop="tts_service.connections:SteadyAcceptLoop",
    )  # fmt: skip
    server = GracefulServer(
        config, grace=settings.shutdown_grace,
        exit_status=lambda: 1 if app.state.service.load_error else 0,
        on_stopping=app.state.wyoming.begin_stopping if app.state.wyoming else None,
    )  # fmt: skip
    # uvicorn re-raises the signal that stopped it once it has shut down, with the handler that
    # was in place before; a no-op one lets the drained server exit normally (status 0).
    for stop_signal in (signal.SIGINT, signal.SIGTERM):
        signal.signal(stop_signal, _stopped)
    logger.info("Listening on http://%s:%d", settings.host, settings.port)
    server.run(sockets=[sock])
    if app.state.service.load_error:
        click.echo(f"error: {app.state.service.load_error}", err=True)
        sys.exit(1)


def _stopped(signum: int, frame: FrameType | None) -> None:
    """Stands for the default handler of SIGINT/SIGTERM once the server has stopped."""


@main.command()
@click.option("--models-dir", type=click.Path(), help="Model cache [TTS_MODELS_DIR].")
def fetch(models_dir: str | None) -> None:
    """Fetch, assemble and verify the model and voice files (reuses a valid cache)."""
    settings = _settings(models_dir=models_dir)
    configure_logging("info")
    _ensure(settings, True)
    click.echo(f"Model files are ready in {settings.models_dir}")


@main.command()
@click.option("--models-dir", type=click.Path(), help="Model cache [TTS_MODELS_DIR].")
def convert(models_dir: str | None) -> None:
    """Rebuild the PyTorch weights from the int8 ONNX model and verify them (reuses a valid cache)."""
    settings = _settings(models_dir=models_dir)
    configure_logging("info")
    try:
        ensure_assets(settings)
        prepare_backend(settings, "torch", build=True)
    except AssetError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)
    click.echo(f"PyTorch weights are ready in {settings.models_dir}")


@main.command("export-onnx")
@click.option("--models-dir", type=click.Path(), help="Model cache [TTS_MODELS_DIR].")
def export_onnx(models_dir: str | None) -> None:
    """Export an fp32 ONNX model from the PyTorch weights (reuses an earlier export); serve it
    with TTS_MODEL_PATH. Needs the torch extra."""
    settings = _settings(models_dir=models_dir)
    configure_logging("info")
    try:
        ensure_assets(settings)
        if not BACKENDS["torch"].installed():  # the export runs the torch backend's model
            raise AssetError("Exporting needs the torch extra: pip install -e '.[torch]'.")
        from tts_service.backends.onnx_export import ensure_fp32_onnx

        path = ensure_fp32_onnx(settings)
    except AssetError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)
    click.echo(f"fp32 ONNX model: {path}\nServe it with TTS_BACKEND=onnx TTS_MODEL_PATH={path}")


@main.command()
@click.option("--port", metavar="PORT", help="Port of the local server [TTS_PORT, default 8880].")
@click.option("--timeout", type=float, default=5.0, show_default=True, help="Seconds to wait.")
def healthcheck(port: str | None, timeout: float) -> None:
    """Exit 0 if the server on this machine answers /health with 200 (ready), else 1.

    For container health checks: the image has no curl."""
    url = f"http://127.0.0.1:{_settings(port=port).port}/health"
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            status = response.status
    except urllib.error.HTTPError as exc:  # 503 while loading
        status = exc.code
    except (urllib.error.URLError, OSError) as exc:
        click.echo(f"unhealthy: {url}: {exc}", err=True)
        sys.exit(1)
    if status != 200:
        click.echo(f"unhealthy: {url} answered {status}", err=True)
        sys.exit(1)


@main.command()
@click.option(
    "--write",
    "page",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Rewrite the generated block of this Markdown page (docs/configuration.md) instead of "
    "printing.",
)
def settings(page: Path | None) -> None:
    """Print the configuration reference (a Markdown table generated from Settings)."""
    from tts_service.config_reference import settings_markdown, update_page

    if page is None:
        click.echo(settings_markdown(), nl=False)
        return
    page.write_text(update_page(page.read_text()))
    click.echo(f"Updated the configuration reference in {page}")
