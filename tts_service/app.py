"""``create_app(settings)``: the FastAPI application, its lifespan and its one error handler."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from concurrent.futures import Future
from concurrent.futures import wait as wait_for_futures
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from socket import socket

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect
from starlette.types import Scope

from tts_service import __version__
from tts_service.assets import ModelFiles
from tts_service.auth import OPEN_PATHS, ApiKeyMiddleware
from tts_service.backends import Backend
from tts_service.config import Settings
from tts_service.errors import (
    HTTPStatusError,
    InvalidJSONError,
    InvalidRequestError,
    NotReadyError,
    ServiceError,
)
from tts_service.loading import Loaded, load
from tts_service.metrics import Metrics
from tts_service.middleware import (
    REQUEST_ID_HEADER,
    BodySizeLimitMiddleware,
    ConnectionAborter,
    RequestIdMiddleware,
    SendTimeoutMiddleware,
    request_id,
)
from tts_service.routes import captions, discovery, health, speech, text_stream, web
from tts_service.routes.speech import CLIENT_CLOSED_REQUEST
from tts_service.schemas import ErrorDetail, ErrorResponse
from tts_service.serving import SpeechService
from tts_service.synthesis import Synthesizer
from tts_service.voices import VoiceStore
from tts_service.warm_phrases import warm

logger = logging.getLogger(__name__)


@dataclass
class Service:
    """What the lifespan loads; routes reach it through ``request.app.state.service``."""

    settings: Settings
    metrics: Metrics = field(default_factory=Metrics)
    synthesizer: Synthesizer | None = None
    voices: VoiceStore | None = None
    speech_service: SpeechService | None = None
    load_error: str | None = None
    warming: asyncio.Task[int] | None = None
    """The phrase cache's warm-up, in the background once ready (``TTS_PHRASE_CACHE_WARMUP``)."""

    @property
    def ready(self) -> bool:
        return self.synthesizer is not None

    def _not_ready(self) -> NotReadyError:
        return NotReadyError(self.load_error or "The model is still loading; try again shortly.")

    def require(self) -> tuple[Synthesizer, VoiceStore]:
        if self.synthesizer is None or self.voices is None:
            raise self._not_ready()
        return self.synthesizer, self.voices

    def speech(self) -> SpeechService:
        """The speech service, once loaded."""
        if self.speech_service is None:
            raise self._not_ready()
        return self.speech_service

    def error_response(self, exc: ServiceError, scope: Scope) -> JSONResponse:
        """The one renderer of errors: OpenAI's shape, one log line, counted in the metrics."""
        self.metrics.count_error(exc.status_code, exc.error_type, exc.code)
        logger.log(
            logging.WARNING if exc.status_code >= 500 else logging.INFO,
            "[%s] error %d %s %r: type=%s code=%s param=%s message=%r",
            request_id(scope), exc.status_code, scope.get("method"), scope.get("path"),
            exc.error_type, exc.code, exc.param, exc.message,
        )  # fmt: skip
        detail = ErrorDetail(
            message=exc.message, type=exc.error_type, param=exc.param, code=exc.code
        )
        # The id header is set here too: a 500 is sent from outside RequestIdMiddleware.
        return JSONResponse(
            ErrorResponse(error=detail).model_dump(),
            status_code=exc.status_code,
            headers={**exc.headers, REQUEST_ID_HEADER: request_id(scope)},
        )


def _serve(service: Service, loaded: Loaded) -> None:
    """Put what was loaded to work: from now on the service is ready."""
    service.synthesizer = Synthesizer(
        loaded.backend, loaded.phonemizer, service.settings, service.metrics
    )
    service.voices = loaded.voices
    service.speech_service = SpeechService(service.synthesizer, loaded.voices, service.settings)
    logger.info(
        "Ready: backend %s, %d voices, loaded in %.1fs",
        loaded.backend.name, len(loaded.voices.ids), loaded.seconds,
    )  # fmt: skip


def create_app(
    settings: Settings,
    *,
    files: ModelFiles | None = None,
    backend: Backend | None = None,
    voices: VoiceStore | None = None,
    loading: Future[Loaded] | None = None,
    on_fatal: Callable[[], None] | None = None,
    abort_connection: ConnectionAborter | None = None,
    player_dir: Path = web.PLAYER_DIR,
    wyoming_socket: socket | None = None,
) -> FastAPI:
    """Build the app. ``files`` are model files already verified (else the lifespan verifies
    them); ``backend``/``voices`` replace the real model (tests use a stand-in); ``loading`` is a
    load already under way (``start_loading``); ``on_fatal`` is called if loading fails (the CLI
    uses it to stop the server); ``abort_connection`` drops a request's connection (the CLI's
    server offers it; used on a send timeout); ``player_dir`` holds the web player's files;
    ``wyoming_socket``, listening, serves the Wyoming protocol while the app runs
    (``app.state.wyoming``, whose ``begin_stopping`` the server calls when it begins to stop)."""
    service = Service(settings)
    wyoming = None
    if wyoming_socket is not None:
        from tts_service.wyoming.server import WyomingServer

        wyoming = WyomingServer(wyoming_socket, service.speech, service.metrics, settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async def start() -> None:
            try:
                if loading is None:
                    loaded = await asyncio.to_thread(load, settings, files, backend, voices)
                else:
                    loaded = await asyncio.wrap_future(loading)
                _serve(service, loaded)
                if loaded.phrases and service.speech_service is not None:
                    service.warming = asyncio.create_task(
                        warm(service.speech_service, loaded.phrases)
                    )
            except Exception as exc:  # noqa: BLE001 - any load failure must stop the service
                service.load_error = f"Loading the model failed: {exc}"
                logger.exception("Loading the model failed")
                if on_fatal is not None:
                    on_fatal()

        task = asyncio.create_task(start())
        if wyoming is not None:
            await wyoming.start()
        yield
        task.cancel()
        if service.warming is not None:
            service.warming.cancel()
        if wyoming is not None:
            await wyoming.stop()
        if loading is not None:  # still loading: the interpreter must not end under its work
            await asyncio.to_thread(wait_for_futures, [loading])
        if service.synthesizer is not None:
            await asyncio.to_thread(service.synthesizer.shutdown)

    app = FastAPI(
        title="tts-service",
        version=__version__,
        summary="OpenAI-compatible text-to-speech, streamed sentence by sentence from Kokoro-82M.",
        lifespan=lifespan,
    )
    app.state.service = service
    app.state.wyoming = wyoming
    app.include_router(speech.router)
    app.include_router(captions.router)
    app.include_router(text_stream.router)
    app.include_router(discovery.router)
    app.include_router(health.router)
    if (player := web.player_router(player_dir)) is not None:
        app.include_router(player)
    _install_error_handlers(app, service)
    # Middleware added later runs earlier: request id, send timeout, API key, body limit.
    app.add_middleware(
        BodySizeLimitMiddleware,
        max_bytes=settings.max_request_bytes,
        on_error=service.error_response,
    )
    if settings.api_keys:
        app.add_middleware(
            ApiKeyMiddleware,
            keys=settings.api_keys,
            on_error=service.error_response,
            open_paths=OPEN_PATHS | _documentation_paths(app) | set(web.PLAYER_FILES),
        )
    app.add_middleware(SendTimeoutMiddleware, timeout=settings.send_timeout, abort=abort_connection)
    app.add_middleware(RequestIdMiddleware)
    if settings.cors_origin_list:  # added last: outermost, so preflights need no key
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origin_list,
            allow_methods=["GET", "POST", "OPTIONS"],
            allow_headers=["Authorization", "Content-Type"],
            expose_headers=[REQUEST_ID_HEADER],
        )
    return app


def _documentation_paths(app: FastAPI) -> set[str]:
    """The interactive API documentation and its schema, open without a key."""
    paths = (app.openapi_url, app.docs_url, app.redoc_url, app.swagger_ui_oauth2_redirect_url)
    return {path for path in paths if path}


def _validation_error(exc: RequestValidationError) -> InvalidRequestError:
    """Pydantic's first complaint as a 400; ``param`` is the top-level field it is about."""
    first = exc.errors()[0] if exc.errors() else {}
    location = [str(part) for part in first.get("loc", ()) if part != "body"]
    if first.get("type") == "json_invalid":
        return InvalidJSONError("The request body is not valid JSON.")
    if not location:
        return InvalidRequestError(
            "The request body must be a JSON object with the request's fields.",
            code="invalid_value",
        )
    param = location[0]
    message = str(first.get("msg", "Invalid value."))
    return InvalidRequestError(f"{param}: {message}", param=param, code="invalid_value")


def _http_headers(exc: StarletteHTTPException) -> dict[str, str]:
    """The exception's headers, ``Allow`` sorted: Starlette joins a route's methods from a set,
    so its order changed from one run to the next."""
    headers = dict(exc.headers or {})
    if "Allow" in headers:
        headers["Allow"] = ", ".join(sorted(m.strip() for m in headers["Allow"].split(",")))
    return headers


def _http_message(exc: StarletteHTTPException, request: Request, headers: dict[str, str]) -> str:
    """The router's 404 and 405 say which path or which methods; other statuses keep their
    detail."""
    if exc.status_code == 404:
        return f"No such endpoint: {request.method} {request.url.path} (the API: /docs)."
    if exc.status_code == 405 and "Allow" in headers:
        return f"Use {headers['Allow']} for {request.url.path}, not {request.method}."
    return str(exc.detail)


def _install_error_handlers(app: FastAPI, service: Service) -> None:
    """Every error, whatever raised it, goes out through ``service.error_response``."""

    @app.exception_handler(ServiceError)
    async def service_error(request: Request, exc: ServiceError) -> JSONResponse:
        return service.error_response(exc, request.scope)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        return service.error_response(_validation_error(exc), request.scope)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        if isinstance(exc.__cause__, ClientDisconnect):
            # The body never arrived whole: the client hung up, or the server cut it off (the
            # body timeout, which answered it). Nobody reads an answer: not a client error.
            logger.info("[%s] The client hung up while sending the body", request_id(request.scope))
            return Response(status_code=CLIENT_CLOSED_REQUEST)
        if exc.status_code == 400 and isinstance(exc.__cause__, ValueError | RecursionError):
            # FastAPI could not decode the body: not UTF-8, a number too long, nested too deep.
            error: ServiceError = InvalidJSONError(
                "The request body is not valid JSON (UTF-8, nesting and number limits apply)."
            )
        else:
            headers = _http_headers(exc)
            error = HTTPStatusError(exc.status_code, _http_message(exc, request, headers), headers)
        return service.error_response(error, request.scope)

    @app.exception_handler(Exception)
    async def unexpected_error(request: Request, exc: Exception) -> JSONResponse:
        logger.exception("[%s] Unhandled error", request_id(request.scope), exc_info=exc)
        return service.error_response(ServiceError("Internal server error."), request.scope)
