"""Voice specs, blends, OpenAI aliases and language codes (``tts_service.voices``)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
from fastapi.testclient import TestClient

from tests.helpers import GOOD, SPEECH, assert_openai_error
from tts_service.app import create_app
from tts_service.config import Settings
from tts_service.errors import InvalidRequestError, UnknownVoiceError
from tts_service.voices import (
    MAX_BLEND_COMPONENTS,
    OPENAI_VOICES,
    Voice,
    VoiceStore,
    describe,
    parse_blend,
    resolve_lang_code,
)

from .conftest import wait_until_ready
from .standin import VOICE_IDS, StandInBackend, make_voice_store, voice_value


@pytest.fixture(scope="module")
def store():
    return make_voice_store()


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("af_heart", [("af_heart", 1.0)]),
        ("af_heart+bm_fable", [("af_heart", 1.0), ("bm_fable", 1.0)]),
        ("af_heart(2)+bm_fable(1)", [("af_heart", 2.0), ("bm_fable", 1.0)]),
        ("af_heart(0.25)+bm_fable", [("af_heart", 0.25), ("bm_fable", 1.0)]),
        (" af_heart ( 3 ) + bm_fable ", [("af_heart", 3.0), ("bm_fable", 1.0)]),
        ("AF_Heart(1e3)", [("af_heart", 1000.0)]),
        ("nova", [("nova", 1.0)]),
    ],
)
def test_parse_blend_reads_names_and_weights_with_default_one(
    spec: str, expected: list[tuple[str, float]]
) -> None:
    assert parse_blend(spec) == expected


def test_a_single_voice_resolves_to_its_own_style_table(store) -> None:
    voice = store.resolve("bm_fable")
    assert voice.styles.shape == (510, 1, 256)
    assert voice.styles.dtype == np.float32
    assert np.all(voice.styles == voice_value("bm_fable"))


@pytest.mark.parametrize(
    ("spec", "parts"),
    [
        ("af_heart+af_bella", [("af_heart", 1), ("af_bella", 1)]),
        ("af_heart(1)+af_bella(3)", [("af_heart", 1), ("af_bella", 3)]),
        ("af_heart(2)+bm_fable(1)+am_onyx(1)", [("af_heart", 2), ("bm_fable", 1), ("am_onyx", 1)]),
        ("af_heart(10)+af_bella(10)", [("af_heart", 1), ("af_bella", 1)]),
    ],
)
def test_a_blend_is_the_weighted_mean_of_its_voices(store, spec: str, parts) -> None:
    total = sum(weight for _, weight in parts)
    expected = sum(weight * voice_value(name) for name, weight in parts) / total
    voice = store.resolve(spec)
    assert voice.styles.shape == (510, 1, 256)
    assert voice.styles.dtype == np.float32
    np.testing.assert_allclose(voice.styles, expected, rtol=1e-6)


@pytest.mark.parametrize(
    ("alias", "target"),
    [("nova", "af_nova"), ("alloy", "af_alloy"), ("onyx", "am_onyx"), ("fable", "bm_fable"),
     ("shimmer", "af_bella"), ("marin", "af_heart")],
)  # fmt: skip
def test_openai_voice_names_map_to_kokoro_voices(store, alias: str, target: str) -> None:
    assert OPENAI_VOICES[alias] == target
    np.testing.assert_array_equal(store.resolve(alias).styles, store.resolve(target).styles)


def test_openai_names_work_inside_a_blend(store) -> None:
    voice = store.resolve("nova+onyx")
    expected = (voice_value("af_nova") + voice_value("am_onyx")) / 2
    np.testing.assert_allclose(voice.styles, expected, rtol=1e-6)


def test_an_openai_name_whose_target_is_not_installed_is_an_unknown_voice(store) -> None:
    assert "af_kore" not in VOICE_IDS
    with pytest.raises(UnknownVoiceError):
        store.resolve("coral")


@pytest.mark.parametrize(
    ("spec", "lang"),
    [
        ("af_heart", "en-us"),
        ("bm_fable", "en-gb"),
        ("ef_dora", "es"),
        ("jf_alpha", "ja"),
        ("nova", "en-us"),
        ("fable", "en-gb"),
        # A blend speaks the language of its first voice.
        ("ef_dora+af_heart", "es"),
        ("af_heart+ef_dora", "en-us"),
    ],
)
def test_the_language_comes_from_the_first_voice_prefix(store, spec: str, lang: str) -> None:
    assert store.resolve(spec).lang == lang


def test_resolve_keeps_the_spec_as_given(store) -> None:
    assert store.resolve("af_heart(2)+bm_fable").spec == "af_heart(2)+bm_fable"


@pytest.mark.parametrize(
    ("code", "lang"),
    [
        ("a", "en-us"),
        ("b", "en-gb"),
        ("e", "es"),
        ("z", "cmn"),
        ("zh", "cmn"),
        ("zh-CN", "cmn"),
        ("en", "en-us"),
        ("en_GB", "en-gb"),
        (" EN-GB ", "en-gb"),
        ("fr", "fr-fr"),
        ("pt", "pt-br"),
        ("ja", "ja"),
        ("es", "es"),
    ],
)
def test_resolve_lang_code_accepts_prefix_letters_and_common_codes(code: str, lang: str) -> None:
    assert resolve_lang_code(code) == lang


@pytest.mark.parametrize("code", ["xx", "", "english", "q", "en-au"])
def test_resolve_lang_code_rejects_unknown_codes(code: str) -> None:
    with pytest.raises(InvalidRequestError) as excinfo:
        resolve_lang_code(code)
    assert excinfo.value.param == "lang_code"
    assert excinfo.value.status_code == 400


@pytest.mark.parametrize(
    ("spec", "error"),
    [
        ("../../etc/passwd", UnknownVoiceError),
        ("/etc/passwd", UnknownVoiceError),
        ("af_heart(999999)+", InvalidRequestError),  # the weight is checked first
        ("+", UnknownVoiceError),
        ("", UnknownVoiceError),
        ("af_heart()", InvalidRequestError),
        ("af_heart(-1)", InvalidRequestError),
        ("af_heart(0)", InvalidRequestError),
        ("af_heart(999999)", InvalidRequestError),
        ("af_heart(nan)", InvalidRequestError),
        ("af_heart(inf)", InvalidRequestError),
        ("af_heart(two)", InvalidRequestError),
        ("af_heart((1))", UnknownVoiceError),
        ("af heart", UnknownVoiceError),
        ("nosuchvoice", UnknownVoiceError),
        ("af_heart+nosuchvoice", UnknownVoiceError),
        ("+".join(["af_heart"] * (MAX_BLEND_COMPONENTS + 1)), InvalidRequestError),
    ],
)
def test_bad_voice_specs_are_rejected(store, spec: str, error: type[Exception]) -> None:
    with pytest.raises(error) as excinfo:
        store.resolve(spec)
    assert isinstance(excinfo.value, InvalidRequestError)  # every one is a 400
    assert excinfo.value.param == "voice"


def test_unknown_voice_errors_carry_the_voice_not_found_code(store) -> None:
    with pytest.raises(UnknownVoiceError) as excinfo:
        store.resolve("nosuchvoice")
    assert excinfo.value.code == "voice_not_found"
    assert "nosuchvoice" in excinfo.value.message


def test_a_blend_of_exactly_the_maximum_parts_is_accepted(store) -> None:
    spec = "+".join(VOICE_IDS[:MAX_BLEND_COMPONENTS])
    expected = np.mean([voice_value(v) for v in VOICE_IDS[:MAX_BLEND_COMPONENTS]])
    np.testing.assert_allclose(store.resolve(spec).styles, expected, rtol=1e-6)


def test_the_store_lists_its_voice_ids_sorted(store) -> None:
    assert store.ids == sorted(VOICE_IDS)


@pytest.mark.parametrize(
    ("n_tokens", "row"),
    [(1, 0), (2, 1), (100, 99), (510, 509), (0, 0), (-5, 0), (511, 509), (10_000, 509)],
)
def test_style_for_picks_row_n_minus_one_and_clamps(n_tokens: int, row: int) -> None:
    styles = np.arange(510, dtype=np.float32).reshape(510, 1, 1) * np.ones((1, 1, 256), np.float32)
    voice = Voice("test", styles, "en-us")
    chosen = voice.style_for(n_tokens)
    assert chosen.shape == (1, 256)
    assert np.all(chosen == row)


@pytest.mark.parametrize(
    ("voice_id", "name", "language", "lang_code", "gender"),
    [
        ("af_heart", "Heart", "American English", "en-us", "female"),
        ("bm_fable", "Fable", "British English", "en-gb", "male"),
        ("ef_dora", "Dora", "Spanish", "es", "female"),
        ("zm_yunjian", "Yunjian", "Mandarin Chinese", "cmn", "male"),
    ],
)
def test_describe_derives_name_language_and_gender_from_the_id(
    voice_id: str, name: str, language: str, lang_code: str, gender: str
) -> None:
    info = describe(voice_id)
    assert (info.id, info.name, info.language, info.lang_code, info.gender) == (
        voice_id, name, language, lang_code, gender,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("af_heart(1e-50)", [("af_heart", 1.0)]),
        ("af_heart(1e-300)+bm_fable(1e-300)", [("af_heart", 0.5), ("bm_fable", 0.5)]),
        ("af_heart(1e-300)+bm_fable(3e-300)", [("af_heart", 0.25), ("bm_fable", 0.75)]),
    ],
)
def test_tiny_blend_weights_are_normalised_not_turned_into_silence(
    store, spec: str, expected: list[tuple[str, float]]
) -> None:
    """Regression: weights that underflow in float32 became 0, the normalisation divided by zero,
    and the request got a 200 with digital silence at several times the usual cost."""
    voice = store.resolve(spec)
    value = sum(weight * voice_value(name) for name, weight in expected)
    assert np.all(np.isfinite(voice.styles))
    np.testing.assert_allclose(voice.styles, value, rtol=1e-6)


def odd_store() -> VoiceStore:
    """Style tables no real voice has: too large for float16, too small for it, the negative of
    another (a blend of the two is all zeros), not numbers."""
    shape = (510, 1, 256)
    nan = np.full(shape, 1.0, dtype=np.float32)
    nan[3, 0, 7] = np.nan
    return VoiceStore(
        {
            "af_heart": np.full(shape, 1.0, dtype=np.float32),
            "af_loud": np.full(shape, 1e5, dtype=np.float32),
            "af_faint": np.full(shape, 1e-9, dtype=np.float32),
            "am_minus": np.full(shape, -1.0, dtype=np.float32),
            "af_nan": nan,
        }
    )


def as_used(dtype: type[np.floating]) -> Callable[[np.ndarray], np.ndarray]:
    return StandInBackend(style_dtype=dtype).style_as_used


@pytest.mark.parametrize(
    ("spec", "dtype"),
    [
        ("af_loud", np.float16),  # inf in half precision
        ("af_faint", np.float16),  # 0 in half precision
        ("af_heart(0.5)+am_minus(0.5)", np.float32),
        ("af_heart(1e-300)+am_minus(1e-300)", np.float32),
        ("af_nan", np.float32),
    ],
)
def test_a_voice_the_model_cannot_speak_in_its_precision_is_refused(
    spec: str, dtype: type[np.floating]
) -> None:
    """A style that is not finite, or all zeros, once converted to the precision the model runs
    in would be noise or a 200 of silence: it is a 400 about the voice instead."""
    with pytest.raises(InvalidRequestError) as caught:
        odd_store().resolve(spec, as_used(dtype))
    assert caught.value.param == "voice" and caught.value.code == "unusable_voice"


@pytest.mark.parametrize(
    ("spec", "dtype"),
    [
        ("af_loud", np.float32),
        ("af_faint", np.float32),
        ("af_heart(3)+am_minus(1)", np.float32),
        ("af_heart(3)+am_minus(1)", np.float16),
    ],
)
def test_a_voice_that_survives_the_conversion_is_used(spec: str, dtype: type[np.floating]) -> None:
    voice = odd_store().resolve(spec, as_used(dtype))
    assert np.isfinite(voice.styles).all() and np.all(voice.styles != 0)


def test_a_request_with_such_a_voice_gets_a_400_and_nothing_is_synthesized() -> None:
    backend = StandInBackend(style_dtype=np.float16)  # as a half-precision PyTorch backend
    app = create_app(Settings(warmup=False), backend=backend, voices=odd_store())
    with TestClient(app) as client:
        wait_until_ready(client)
        response = client.post(SPEECH, json={**GOOD, "voice": "af_loud"})
        assert_openai_error(response, 400, param="voice", code="unusable_voice")
        assert "af_loud" in response.json()["error"]["message"]
        assert client.post(SPEECH, json={**GOOD, "voice": "af_heart"}).status_code == 200
    assert len(backend.calls) == 1  # the good request's only
