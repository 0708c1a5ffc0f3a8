"""Domain exceptions. ``tts_service.app`` renders all of them in OpenAI's error shape."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType


class ServiceError(Exception):
    """Base class: an error with an HTTP status and OpenAI's ``type``/``param``/``code`` fields."""

    status_code = 500
    error_type = "server_error"
    code: str | None = None
    headers: Mapping[str, str] = MappingProxyType({})
    """Extra response headers (``WWW-Authenticate``, ``Retry-After``...)."""

    def __init__(self, message: str, *, param: str | None = None, code: str | None = None):
        super().__init__(message)
        self.message = message
        self.param = param
        if code is not None:
            self.code = code


class InvalidRequestError(ServiceError):
    status_code = 400
    error_type = "invalid_request_error"


class UnknownVoiceError(InvalidRequestError):
    code = "voice_not_found"


class NoSpeechError(InvalidRequestError):
    """The input holds nothing the model can speak (only emoji, punctuation, ...)."""

    code = "no_speakable_text"


class InvalidJSONError(InvalidRequestError):
    """The body is not a JSON document (bad syntax, not UTF-8, nested too deeply...)."""

    code = "invalid_json"


class RequestTooLargeError(InvalidRequestError):
    """The body is larger than ``TTS_MAX_REQUEST_BYTES``; it is refused before it is read."""

    status_code = 413
    code = "request_too_large"


class InvalidHTTPError(InvalidRequestError):
    """What arrived is not HTTP/1.1 the server can parse (answered by the connection, not the app)."""

    code = "invalid_http"


class InvalidEventError(InvalidRequestError):
    """What arrived on the Wyoming port is not a Wyoming event, or one larger than allowed."""

    code = "invalid_event"


class HeadersTooLargeError(InvalidHTTPError):
    status_code = 431
    code = "headers_too_large"


class RequestTimeoutError(InvalidRequestError):
    """The request head or body did not arrive within its timeout."""

    status_code = 408
    code = "request_timeout"


class HTTPStatusError(ServiceError):
    """An error the HTTP layer found (unknown path, wrong method), with its own status."""

    def __init__(
        self, status_code: int, message: str, headers: Mapping[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.error_type = "invalid_request_error" if status_code < 500 else "server_error"
        self.headers = dict(headers or {})


class AuthenticationError(ServiceError):
    status_code = 401
    error_type = "invalid_request_error"
    code = "invalid_api_key"
    headers = MappingProxyType({"WWW-Authenticate": "Bearer"})


class NotReadyError(ServiceError):
    status_code = 503
    error_type = "service_unavailable"
    code = "model_not_ready"


class TooManyConnectionsError(ServiceError):
    """The connection came while ``TTS_MAX_CONNECTIONS`` were open; it is closed after this."""

    status_code = 503
    error_type = "service_unavailable"
    code = "too_many_connections"

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.headers = {"Retry-After": str(retry_after)}


class OverloadedError(ServiceError):
    """The server is at its configured capacity; the client should retry later."""

    status_code = 429
    error_type = "rate_limit_error"
    code = "server_busy"

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.headers = {"Retry-After": str(retry_after)}


class ShuttingDownError(ServiceError):
    """The server is stopping: it takes no new work, or its grace period cut the work short."""

    status_code = 503
    error_type = "service_unavailable"
    code = "shutdown"
