"""The user's lexicon: file formats, case rules, reload on change, a broken file keeps the last
good lexicon; its words said by both G2P engines."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from tts_service.text.lexicon import Entry, Lexicon, LexiconError, parse_file
from tts_service.text.phonemes import Phonemizer


def write(path: Path, text: str) -> None:
    path.write_text(text, encoding="utf-8")


def test_txt_tsv_and_json_files_say_phonemes_or_a_respelling(tmp_path: Path) -> None:
    write(tmp_path / "a.txt", "# comment\n\nKokoro  /kˈOkəɹO/\nnginx\tengine x\n")
    write(tmp_path / "b.json", json.dumps({"SQL": "sequel"}))
    assert parse_file(tmp_path / "a.txt") == {
        "Kokoro": Entry(phonemes="kˈOkəɹO"),
        "nginx": Entry(respelling="engine x"),
    }
    assert parse_file(tmp_path / "b.json") == {"SQL": Entry(respelling="sequel")}


@pytest.mark.parametrize("text", ["lonely\n", "word / /\n"], ids=["no-value", "no-phonemes"])
def test_a_malformed_line_is_an_error_naming_it(tmp_path: Path, text: str) -> None:
    write(tmp_path / "en-us.txt", text)
    with pytest.raises(LexiconError, match="line"):
        parse_file(tmp_path / "en-us.txt")


def test_lower_case_entries_match_any_case_capitalised_ones_only_themselves(
    tmp_path: Path,
) -> None:
    write(tmp_path / "en-us.txt", "kokoro /kˈOkəɹO/\nUS /jˈuˈɛs/\n")
    lexicon = Lexicon(tmp_path)
    for word in ("kokoro", "Kokoro", "KOKORO"):
        assert lexicon.lookup(word, "en-us") == Entry(phonemes="kˈOkəɹO")
    assert lexicon.lookup("US", "en-us") == Entry(phonemes="jˈuˈɛs")
    assert lexicon.lookup("us", "en-us") is None
    assert lexicon.lookup("Us", "en-us") is None


def test_the_exact_language_wins_over_its_family(tmp_path: Path) -> None:
    write(tmp_path / "en.txt", "tomato /təmˈATO/\ncolour color\n")
    write(tmp_path / "en-gb.txt", "tomato /təmˈɑːtQ/\n")
    lexicon = Lexicon(tmp_path)
    assert lexicon.lookup("tomato", "en-us") == Entry(phonemes="təmˈATO")
    assert lexicon.lookup("tomato", "en-gb") == Entry(phonemes="təmˈɑːtQ")
    assert lexicon.lookup("colour", "en-gb") == Entry(respelling="color")
    assert lexicon.lookup("tomato", "fr-fr") is None


def test_an_edited_file_is_used_without_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "en-us.tsv"
    write(path, "kokoro\t/kˈOkəɹO/\n")
    lexicon = Lexicon(tmp_path, check_every=0)
    assert lexicon.lookup("kokoro", "en-us") == Entry(phonemes="kˈOkəɹO")
    write(path, "kokoro\tcocoa row\n")
    assert lexicon.lookup("kokoro", "en-us") == Entry(respelling="cocoa row")
    path.unlink()
    assert lexicon.lookup("kokoro", "en-us") is None


def test_a_broken_file_logs_an_error_and_keeps_the_last_good_lexicon(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "en-us.json"
    write(path, json.dumps({"kokoro": "/kˈOkəɹO/"}))
    lexicon = Lexicon(tmp_path, check_every=0)
    assert lexicon.lookup("kokoro", "en-us") == Entry(phonemes="kˈOkəɹO")
    write(path, '{"kokoro": "/kˈOkə')
    with caplog.at_level(logging.ERROR, logger="tts_service.text.lexicon"):
        assert lexicon.lookup("kokoro", "en-us") == Entry(phonemes="kˈOkəɹO")
        assert lexicon.lookup("kokoro", "en-us") == Entry(phonemes="kˈOkəɹO")
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1  # once per change, not per lookup
    assert "en-us.json" in errors[0].getMessage()
    assert "keeping the last good lexicon" in errors[0].getMessage()
    write(path, json.dumps({"kokoro": "cocoa row"}))
    assert lexicon.lookup("kokoro", "en-us") == Entry(respelling="cocoa row")


def test_a_broken_first_file_means_no_lexicon_not_a_failure(tmp_path: Path) -> None:
    write(tmp_path / "en-us.txt", "lonely\n")
    assert Lexicon(tmp_path).lookup("lonely", "en-us") is None


@pytest.mark.parametrize("g2p", ["espeak", "auto"])
def test_both_engines_say_lexicon_words_as_written_punctuation_kept(
    tmp_path: Path, g2p: str, misaki_phonemizer: Phonemizer
) -> None:
    write(tmp_path / "en-us.txt", "kokoro /kˈOkəɹO/\nnginx engine x\n")
    phonemizer = Phonemizer("espeak") if g2p == "espeak" else misaki_phonemizer
    phonemizer.lexicon = Lexicon(tmp_path)
    said = phonemizer.phonemize('Ask "Kokoro", then nginx.', "en-us")
    assert "kˈOkəɹO" in said
    assert sum(said.count(q) for q in '"“”') == 2 and "," in said
    # The respelling is read as its words.
    assert said.endswith(phonemizer.phonemize("Ask Kokoro, then engine x.", "en-us")[-8:])
