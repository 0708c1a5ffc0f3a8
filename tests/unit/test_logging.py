"""Logging as the command line configures it: ``debug`` is the service's own detail only (one
line per chunk), never libraries' (sse-starlette logs each event it sends, base64 audio
included); health probes stay out of the INFO access log."""

from __future__ import annotations

import asyncio
import errno
import logging
import socket
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from tests.helpers import sse_events
from tts_service.logs import configure_logging

from .conftest import ClientFactory

LOGGERS = ("", "tts_service", "uvicorn.access", "phonemizer", "asyncio")
LIBRARIES = ("sse_starlette", "markdown_it", "asyncio", "multipart", "httpx", "uvicorn.error")


@pytest.fixture
def restore_logging() -> Iterator[None]:
    saved = {name: logging.getLogger(name) for name in LOGGERS}
    state = {name: (log.level, list(log.filters)) for name, log in saved.items()}
    yield
    for name, log in saved.items():
        log.setLevel(state[name][0])
        log.filters[:] = state[name][1]


@pytest.mark.usefixtures("restore_logging")
def test_debug_is_for_the_services_loggers_only() -> None:
    """``TTS_LOG_LEVEL=debug`` used to set the root logger to DEBUG, for every library."""
    configure_logging("debug")
    assert logging.getLogger("tts_service.synthesis").isEnabledFor(logging.DEBUG)
    for library in LIBRARIES:
        log = logging.getLogger(library)
        assert not log.isEnabledFor(logging.DEBUG), library
        assert log.isEnabledFor(logging.INFO), library


@pytest.mark.usefixtures("restore_logging")
def test_warning_quiets_libraries_too() -> None:
    configure_logging("warning")
    for name in ("tts_service.app", *LIBRARIES):
        assert not logging.getLogger(name).isEnabledFor(logging.INFO), name


@pytest.mark.usefixtures("restore_logging")
def test_one_request_at_debug_logs_a_line_per_chunk_and_no_audio(
    make_client: ClientFactory, caplog: pytest.LogCaptureFixture
) -> None:
    configure_logging("debug")
    client: TestClient = make_client()
    caplog.clear()
    body = {"input": "One. Two, three. Four.", "response_format": "pcm", "stream_format": "sse"}
    response = client.post("/v1/audio/speech", json=body)
    assert response.status_code == 200
    deltas = [data["audio"] for name, data in sse_events(response.text) if name.endswith("delta")]
    assert deltas
    rid = response.headers["x-request-id"]
    messages = [record.getMessage() for record in caplog.records]
    chunk_lines = [m for m in messages if m.startswith(f"[{rid}] chunk ")]
    assert len(chunk_lines) == len(deltas)  # pcm over SSE: a delta per chunk
    debug = [r for r in caplog.records if r.levelno < logging.INFO]
    assert debug and all(r.name.startswith("tts_service.") for r in debug), debug
    for audio in deltas:
        assert not [m for m in messages if audio[:32] in m]


def access_record(path: str) -> logging.LogRecord:
    """The record uvicorn's access logger makes for one request."""
    return logging.getLogger("uvicorn.access").makeRecord(
        "uvicorn.access", logging.INFO, __file__, 1, '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:5000", "GET", path, "1.1", 200), None,
    )  # fmt: skip


@pytest.mark.usefixtures("restore_logging")
@pytest.mark.parametrize("path", ["/health", "/metrics", "/health?probe=1"])
def test_probes_are_not_access_logged_at_info(path: str) -> None:
    access = logging.getLogger("uvicorn.access")
    configure_logging("info")
    assert not access.filter(access_record(path))
    assert access.filter(access_record("/v1/audio/speech"))
    assert access.filter(access_record("/healthz"))
    configure_logging("debug")
    record = access_record(path)
    assert access.filter(record) and record.levelno == logging.DEBUG


@pytest.mark.usefixtures("restore_logging")
def test_failed_accepts_at_the_open_file_limit_log_one_warning_not_a_traceback_each(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """asyncio logged a traceback for every accept() that failed for want of files: tens of
    thousands of lines a minute while a flood of connections held the server at its limit."""
    configure_logging("info")
    loop = asyncio.new_event_loop()
    try:
        with socket.socket() as listening:
            for _ in range(1000):  # as asyncio reports them, through its exception handler
                loop.call_exception_handler({
                    "message": "socket.accept() out of system resource",
                    "exception": OSError(errno.EMFILE, "Too many open files"),
                    "socket": listening,
                })  # fmt: skip
            loop.call_exception_handler({"message": "something else", "exception": ValueError()})
    finally:
        loop.close()
    records = [r for r in caplog.records if r.name == "asyncio"]
    assert len(records) == 2, [r.getMessage()[:80] for r in records]
    warning, other = records
    assert warning.levelno == logging.WARNING and warning.exc_info is None
    assert "open-file limit" in warning.getMessage()
    assert other.levelno == logging.ERROR and other.exc_info  # other errors are left alone
