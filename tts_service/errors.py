"""Domain exceptions. ``tts_service.app`` renders all of them in OpenAI's error shape."""

from __future__ import annotations


class ServiceError(Exception):
    """Base class: an error with an HTTP status and OpenAI's ``type``/``param``/``code`` fields."""

    status_code = 500
    error_type = "server_error"
    code: str | None = None

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


class AuthenticationError(ServiceError):
    status_code = 401
    error_type = "invalid_request_error"
    code = "invalid_api_key"


class NotReadyError(ServiceError):
    status_code = 503
    error_type = "service_unavailable"
    code = "model_not_ready"
