"""Loading the model: backend, voices and phonemizer, then (``TTS_WARMUP``) one warm-up synthesis.

It is all blocking work, so it runs on a thread. ``tts-service serve`` starts that thread before
it imports the web stack (``start_loading``): onnxruntime builds its session in native code, off
the GIL, while Python imports FastAPI, so the two overlap and the service is ready sooner.
"""

from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tts_service.assets import ModelFiles
    from tts_service.backends import Backend
    from tts_service.config import Settings
    from tts_service.text.phonemes import Phonemizer
    from tts_service.voices import Voice, VoiceStore
    from tts_service.warm_phrases import WarmPhrase

logger = logging.getLogger(__name__)

WARMUP_TEXT = "Ready."


@dataclass(frozen=True)
class Loaded:
    backend: Backend
    voices: VoiceStore
    phonemizer: Phonemizer
    seconds: float
    """Wall time of the whole load, warm-up included."""
    phrases: list[WarmPhrase] = field(default_factory=list)
    """The phrases to warm the phrase cache with (``TTS_PHRASE_CACHE_WARMUP``)."""


def warm_up(backend: Backend, phonemizer: Phonemizer, voice: Voice) -> float:
    """One short synthesis so the first real request is not slow; returns its seconds."""
    started = time.perf_counter()
    tokens = phonemizer.tokenize(phonemizer.phonemize(WARMUP_TEXT, voice.lang))
    backend.synthesize(tokens, voice.style_for(len(tokens)), 1.0)
    return time.perf_counter() - started


def load(
    settings: Settings,
    files: ModelFiles | None = None,
    backend: Backend | None = None,
    voices: VoiceStore | None = None,
) -> Loaded:
    """Blocking. ``files`` already verified (else verified here, never fetched); ``backend`` and
    ``voices`` replace the real ones (tests pass a stand-in)."""
    from tts_service.assets import ensure_assets
    from tts_service.backends import load_backend
    from tts_service.voices import VoiceStore

    started = time.perf_counter()
    if backend is None or voices is None:
        files = files or ensure_assets(settings, fetch=False)
        backend = backend or load_backend(settings, files)
        voices = voices or VoiceStore.load(files.voices)
    phrases = _warmup_phrases(settings, voices)
    # Imported only now, after the session is built: it pulls in espeak's phonemizer (see
    # ``start_loading``), which the web stack's imports meanwhile bring in anyway.
    from tts_service.text.phonemes import Phonemizer

    _import_scipy_before_torch()

    phonemizer = Phonemizer.from_settings(settings.g2p, settings.lexicon_dir)
    # The default voice's G2P loads with the model (misaki takes seconds), the others on first use.
    if (lang := _default_lang(settings)) is not None:
        phonemizer.prepare(lang)
    if settings.warmup_for(backend.name):
        seconds = warm_up(backend, phonemizer, voices.resolve(settings.default_voice))
        logger.info("Warm-up synthesis took %.2fs", seconds)
    return Loaded(backend, voices, phonemizer, time.perf_counter() - started, phrases)


def _warmup_phrases(settings: Settings, voices: VoiceStore) -> list[WarmPhrase]:
    """The phrases of ``TTS_PHRASE_CACHE_WARMUP``, read and checked now: a file that cannot be
    used stops start-up (``WarmupFileError``), as a bad setting does."""
    if settings.phrase_cache_warmup is None:
        return []
    from tts_service.warm_phrases import read_phrases

    phrases = read_phrases(settings.phrase_cache_warmup, voices)
    if settings.phrase_cache_bytes == 0:
        logger.warning("TTS_PHRASE_CACHE_WARMUP is ignored: the phrase cache is off")
        return []
    return phrases


def _import_scipy_before_torch() -> None:
    """Finish importing SciPy (under the loudness meter) before misaki pulls in torch here.

    While SciPy imports, it looks ``torch.Tensor`` up on whatever ``torch`` is in
    ``sys.modules``; if this thread is half-way through importing torch at that moment, the web
    stack's import of SciPy on the other thread fails and the server does not start. Importing it
    here first (or waiting on the other thread's import of it) closes that window."""
    import tts_service.audio.loudness  # noqa: F401


def _default_lang(settings: Settings) -> str | None:
    """The default voice's language (by its name: the voice need not be in the catalogue)."""
    from tts_service.errors import InvalidRequestError
    from tts_service.voices import OPENAI_VOICES, describe, parse_blend

    try:
        name = parse_blend(settings.default_voice)[0][0]
    except InvalidRequestError:
        return None  # a request naming no voice gets the error
    return describe(OPENAI_VOICES.get(name, name)).lang_code


def start_loading(settings: Settings, files: ModelFiles) -> Future[Loaded]:
    """``load`` on a daemon thread, started now; its result or exception lands in the future.

    The backend's module is imported here first, on the calling thread: its imports (numpy,
    onnxruntime, kokoro-onnx and espeak's phonemizer: about half a second of Python) would
    otherwise contend for the GIL with the caller's own imports and delay the session build,
    which is the longest step and runs mostly in native code."""
    from tts_service.backends import backend_factory

    backend_factory(settings)
    future: Future[Loaded] = Future()

    def run() -> None:
        if not future.set_running_or_notify_cancel():
            return
        try:
            future.set_result(load(settings, files))
        except BaseException as exc:  # noqa: BLE001 - handed to whoever awaits the future
            future.set_exception(exc)

    threading.Thread(target=run, name="tts-load", daemon=True).start()
    return future
