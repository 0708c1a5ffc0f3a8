"""A real server with the default G2P (misaki for English, Mandarin and Japanese): /health says which engine speaks
which language, Whisper hears a heteronym-rich sentence right, and the user's lexicon is used,
and re-read when it changes, without a restart."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.helpers import decode, resample_to_16k, speech, word_error_rate
from tests.integration.conftest import RunningServer, start_server, stop_server
from tts_service.text.lexicon import Lexicon

HETERONYMS = (
    "I read the report yesterday, and I will read it again tomorrow. "
    "The wind was so strong that the trees bent low."
)


def heard(server: RunningServer, whisper, text: str, voice: str = "af_heart") -> str:  # noqa: ANN001
    response = speech(server, input=text, voice=voice, response_format="wav")
    assert response.status_code == 200, response.text
    audio = decode(response.content, "wav")
    segments, _ = whisper.transcribe(
        resample_to_16k(audio.samples, audio.sample_rate), language="en", beam_size=1
    )
    return " ".join(segment.text for segment in segments).strip()


def test_health_says_misaki_speaks_english_mandarin_japanese_and_espeak_the_rest(
    server: RunningServer,
) -> None:
    g2p = httpx.get(f"{server.url}/health").json()["g2p"]
    assert g2p["en-us"] == g2p["en-gb"] == g2p["ja"] == g2p["cmn"] == "misaki"
    assert g2p["fr-fr"] == g2p["es"] == "espeak"


def test_whisper_hears_a_heteronym_sentence_said_with_misaki(
    server: RunningServer,
    whisper,  # noqa: ANN001
) -> None:
    said = heard(server, whisper, HETERONYMS)
    assert word_error_rate(HETERONYMS, said) <= 0.1, said


def test_whisper_hears_an_ssml_phoneme_as_its_phonemes(server: RunningServer, whisper) -> None:  # noqa: ANN001
    ssml = '<speak>I like the <phoneme ph="jˈɛlO bənˈænə">gizmo</phoneme>.</speak>'
    assert "yellow banana" in heard(server, whisper, ssml).lower()


@pytest.fixture(scope="module")
def lexicon_server(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[RunningServer, Path]]:
    folder = tmp_path_factory.mktemp("lexicon")
    (folder / "en-us.txt").write_text("gizmo the red apple\n")
    running = start_server(tmp_path_factory.mktemp("server"), {"TTS_LEXICON_DIR": str(folder)})
    yield running, folder
    stop_server(running)


def test_the_lexicon_is_said_and_an_edit_is_heard_without_a_restart(
    lexicon_server: tuple[RunningServer, Path],
    whisper,  # noqa: ANN001
) -> None:
    server, folder = lexicon_server
    assert "red apple" in heard(server, whisper, "I like the gizmo.").lower()
    (folder / "en-us.txt").write_text("gizmo the yellow banana\n")
    time.sleep(Lexicon(None).check_every + 0.1)  # the server looks for changes this often
    assert "yellow banana" in heard(server, whisper, "I like the gizmo.").lower()
