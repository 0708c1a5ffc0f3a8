"""Fixtures: the real app around the stand-in backend, driven by Starlette's TestClient."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from tts_service.app import create_app
from tts_service.config import Settings
from tts_service.text.lexicon import Lexicon
from tts_service.text.phonemes import Phonemizer
from tts_service.voices import Voice

from .standin import StandInBackend, make_voice_store

HEALTH_TIMEOUT_S = 10.0

ClientFactory = Callable[..., TestClient]


@pytest.fixture(autouse=True)
def _isolated_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    """No TTS_* variable of the developer's shell may leak into Settings()."""
    for name in list(os.environ):
        if name.upper().startswith("TTS_"):
            monkeypatch.delenv(name)
    # The stand-in model's tests hear no phonemes: espeak-ng, loaded in a moment, is enough for
    # them (misaki's spaCy takes seconds per app; tests/unit/test_g2p.py asks for it).
    monkeypatch.setenv("TTS_G2P", "espeak")
    # The stand-in's tests count inferences and often speak one text twice: the phrase cache is
    # off unless a test turns it on (tests/unit/test_phrase_cache.py).
    monkeypatch.setenv("TTS_PHRASE_CACHE_BYTES", "0")


def wait_until_ready(client: TestClient, timeout: float = HEALTH_TIMEOUT_S) -> None:
    """Loading runs in a background thread after start-up; poll /health until it says 200."""
    deadline = time.monotonic() + timeout
    while True:
        response = client.get("/health")
        if response.status_code == 200:
            return
        if time.monotonic() > deadline:
            raise AssertionError(
                f"/health never became 200: {response.status_code} {response.text}"
            )
        time.sleep(0.01)


def build_app(backend: StandInBackend, **settings: object) -> FastAPI:
    return create_app(
        Settings(**{"warmup": False, **settings}), backend=backend, voices=make_voice_store()
    )


@pytest.fixture(scope="session")
def _misaki_once() -> Phonemizer:
    phonemizer = Phonemizer("auto")
    phonemizer.prepare("en-us")  # spaCy and misaki's dictionaries: seconds, once per session
    return phonemizer


@pytest.fixture
def misaki_phonemizer(_misaki_once: Phonemizer) -> Iterator[Phonemizer]:
    """A phonemizer with misaki for English (``TTS_G2P=auto``), loaded once; a test may give it a
    lexicon (taken away afterwards)."""
    yield _misaki_once
    _misaki_once.lexicon = Lexicon(None)


@pytest.fixture
def standin() -> StandInBackend:
    """The default stand-in backend of the ``client`` fixture (inspect ``standin.calls``)."""
    return StandInBackend()


@pytest.fixture
def make_client() -> Iterator[ClientFactory]:
    """``make_client(backend=..., raise_server_exceptions=..., **Settings fields)`` → a started,
    ready TestClient; all of them are shut down at the end of the test."""
    with ExitStack() as stack:

        def factory(
            backend: StandInBackend | None = None,
            *,
            raise_server_exceptions: bool = True,
            wait: bool = True,
            **settings: object,
        ) -> TestClient:
            app = build_app(backend if backend is not None else StandInBackend(), **settings)
            client = stack.enter_context(
                TestClient(app, raise_server_exceptions=raise_server_exceptions)
            )
            if wait:
                wait_until_ready(client)
            return client

        yield factory


@pytest.fixture
def client(make_client: ClientFactory, standin: StandInBackend) -> TestClient:
    """A ready app on the ``standin`` backend with default settings (warm-up off)."""
    return make_client(standin)


@pytest.fixture(scope="module")
def voice() -> Voice:
    """The stand-in catalogue's af_heart."""
    return make_voice_store().resolve("af_heart")
