"""Logging, configured once by the command line: one format; the chosen level for the service's
own loggers (``tts_service.*``) only; health probes out of the access log.

Libraries never log below INFO: at DEBUG they are noisy and some leak payloads (sse-starlette
logs every event it sends, base64 audio included; markdown-it logs each parsing rule). The
service's own debug lines are the ones worth having: one per synthesized chunk.
"""

from __future__ import annotations

import errno
import logging
import resource
import time

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
SERVICE_LOGGER = "tts_service"
ACCEPT_WARNING_INTERVAL_S = 10.0
"""At most one warning this often while connections cannot be accepted for want of files."""
PROBE_PATHS = frozenset({"/health", "/metrics"})
"""Polled every few seconds by orchestrators and Prometheus: access-logged at DEBUG, not INFO."""


def library_level(level: str) -> str:
    """The level for everything but the service's loggers (uvicorn included): ``level``, but
    never more verbose than INFO."""
    return "info" if logging.getLevelName(level.upper()) < logging.INFO else level


def configure_logging(level: str) -> None:
    logging.basicConfig(format=LOG_FORMAT)
    logging.getLogger().setLevel(library_level(level).upper())
    logging.getLogger(SERVICE_LOGGER).setLevel(level.upper())
    # espeak's phonemizer warns "words count mismatch" for nearly every sentence with
    # punctuation (kokoro-onnx keeps it, as the model wants). It resets its logger's level on
    # every call, but not the logger's filters.
    _add_filter(logging.getLogger("phonemizer"), _PhonemizerWordCountFilter())
    _add_filter(logging.getLogger("uvicorn.access"), ProbeFilter())
    _add_filter(logging.getLogger("asyncio"), OpenFileLimitFilter())


def _add_filter(logger: logging.Logger, new: logging.Filter) -> None:
    """Once, however often logging is configured (tests configure it repeatedly)."""
    if not any(type(f) is type(new) for f in logger.filters):
        logger.addFilter(new)


class _PhonemizerWordCountFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return "words count mismatch" not in str(record.msg)


class ProbeFilter(logging.Filter):
    """uvicorn's access line for ``/health`` and ``/metrics`` becomes a DEBUG line: shown when the
    service logs at debug, dropped otherwise. Other requests keep their INFO line."""

    def filter(self, record: logging.LogRecord) -> bool:
        # uvicorn's access record: (client, method, path with query, HTTP version, status)
        args = record.args
        if not (isinstance(args, tuple) and len(args) >= 3):
            return True
        if str(args[2]).partition("?")[0] not in PROBE_PATHS:
            return True
        if not logging.getLogger(SERVICE_LOGGER).isEnabledFor(logging.DEBUG):
            return False
        record.levelno, record.levelname = logging.DEBUG, logging.getLevelName(logging.DEBUG)
        return True


class OpenFileLimitFilter(logging.Filter):
    """asyncio logs an error with a traceback for every failed ``accept()``, up to the listen
    backlog's length (2048) each time it retries, once a second: at the open-file limit that
    was tens of thousands of lines a minute. This keeps one warning per
    ``ACCEPT_WARNING_INTERVAL_S`` that says what happens and how many were left out."""

    def __init__(self) -> None:
        super().__init__()
        self.last_warning = -ACCEPT_WARNING_INTERVAL_S
        self.left_out = 0

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if not (isinstance(exc, OSError) and exc.errno in (errno.EMFILE, errno.ENFILE)):
            return True
        now = time.monotonic()
        if now - self.last_warning < ACCEPT_WARNING_INTERVAL_S:
            self.left_out += 1
            return False
        soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
        record.msg = (
            "New connections wait: the open-file limit (%d) is reached (%s); %d more failed "
            "accepts since the last warning. Connections that time out free their files; "
            "TTS_MAX_CONNECTIONS and the open-file limit (ulimit -n) set the room."
        )
        record.args = (soft, exc.strerror, self.left_out)
        record.levelno, record.levelname = logging.WARNING, logging.getLevelName(logging.WARNING)
        record.exc_info, record.exc_text = None, None
        self.last_warning, self.left_out = now, 0
        return True
