"""The voice catalogue: names, languages, OpenAI aliases and weighted blends.

Voice specs are parsed here and looked up in memory; they never touch the filesystem.
A spec is one voice (``af_heart``), an OpenAI name (``nova``), or a blend of voices with optional
weights (``af_heart+bm_fable``, ``af_heart(2)+bm_fable(1)``); weights are normalised to sum to 1.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tts_service.errors import InvalidRequestError, UnknownVoiceError

# Voice-name prefix letter → (language name, espeak-ng language code, BCP 47 language tag).
LANGUAGES: dict[str, tuple[str, str, str]] = {
    "a": ("American English", "en-us", "en-US"),
    "b": ("British English", "en-gb", "en-GB"),
    "e": ("Spanish", "es", "es"),
    "f": ("French", "fr-fr", "fr"),
    "h": ("Hindi", "hi", "hi"),
    "i": ("Italian", "it", "it"),
    "j": ("Japanese", "ja", "ja"),
    "p": ("Brazilian Portuguese", "pt-br", "pt-BR"),
    "z": ("Mandarin Chinese", "cmn", "zh"),
}
# Language codes a request may give as ``lang_code``, besides the prefix letters above.
LANG_CODE_ALIASES: dict[str, str] = {
    **{espeak: espeak for _, espeak, _ in LANGUAGES.values()},
    "en": "en-us", "en-us": "en-us", "en-gb": "en-gb", "fr": "fr-fr", "pt": "pt-br",
    "pt-pt": "pt-br", "zh": "cmn", "zh-cn": "cmn", "ja-jp": "ja", "es-es": "es", "it-it": "it",
}  # fmt: skip

# OpenAI's voice names → Kokoro voices of a similar character.
OPENAI_VOICES: dict[str, str] = {
    "alloy": "af_alloy",
    "ash": "am_adam",
    "ballad": "bm_fable",
    "coral": "af_kore",
    "echo": "am_echo",
    "fable": "bm_fable",
    "nova": "af_nova",
    "onyx": "am_onyx",
    "sage": "af_sarah",
    "shimmer": "af_bella",
    "verse": "am_puck",
    "marin": "af_heart",
    "cedar": "am_michael",
}

_COMPONENT = re.compile(r"^\s*([a-z]{2}_[a-z]+|[a-z]+)\s*(?:\(\s*([^()]*?)\s*\))?\s*$")
MAX_BLEND_COMPONENTS = 8


@dataclass(frozen=True)
class VoiceInfo:
    id: str
    name: str
    language: str
    lang_code: str
    gender: str


@dataclass(frozen=True)
class Voice:
    """A resolved voice: its style table (510×1×256) and the espeak language of its first part."""

    spec: str
    styles: np.ndarray
    lang: str
    key: str = ""
    """The blend it resolved to, one spelling for every spec that names it (OpenAI names
    resolved, parts merged and sorted, weights normalised): ``"nova"`` and ``"af_nova(2)"``
    have one key, ``"a+b"`` and ``"b+a"`` too (``blend_key``). Empty: the spec is the key."""

    @property
    def identity(self) -> str:
        """What determines its styles: ``key``, or the spec where none was given."""
        return self.key or self.spec

    def style_for(self, n_tokens: int) -> np.ndarray:
        """Kokoro's style for an input of ``n_tokens`` phonemes is row ``n_tokens - 1``."""
        return self.styles[max(1, min(n_tokens, len(self.styles))) - 1]


def describe(voice_id: str) -> VoiceInfo:
    prefix, _, name = voice_id.partition("_")
    language, lang, _ = LANGUAGES.get(prefix[:1], ("Unknown", "en-us", "und"))
    gender = {"f": "female", "m": "male"}.get(prefix[1:2], "unknown")
    return VoiceInfo(voice_id, name.replace("_", " ").title(), language, lang, gender)


def language_tag(voice_id: str) -> str:
    """The BCP 47 tag of the language ``voice_id`` speaks (``bf_emma`` → ``en-GB``)."""
    return LANGUAGES.get(voice_id[:1], ("Unknown", "en-us", "und"))[2]


def resolve_lang_code(code: str) -> str:
    key = code.strip().lower().replace("_", "-")
    if key in LANGUAGES:
        return LANGUAGES[key][1]
    if key in LANG_CODE_ALIASES:
        return LANG_CODE_ALIASES[key]
    known = ", ".join(sorted({*LANGUAGES, *LANG_CODE_ALIASES}))
    raise InvalidRequestError(
        f"Unknown lang_code {code!r}; use one of: {known}.", param="lang_code"
    )


def parse_blend(spec: str) -> list[tuple[str, float]]:
    """``"af_heart(2)+bm_fable"`` → ``[("af_heart", 2.0), ("bm_fable", 1.0)]`` (names not checked)."""
    parts = spec.split("+")
    if len(parts) > MAX_BLEND_COMPONENTS:
        raise InvalidRequestError(
            f"A voice blend may have at most {MAX_BLEND_COMPONENTS} parts.", param="voice"
        )
    result = []
    for part in parts:
        match = _COMPONENT.match(part.lower())
        if not match:
            raise UnknownVoiceError(
                f"Voice {spec!r} is not a voice name or a blend like 'af_heart(2)+bm_fable(1)'.",
                param="voice",
            )
        name, raw_weight = match.group(1), match.group(2)
        try:
            weight = 1.0 if raw_weight is None else float(raw_weight)
        except ValueError:
            weight = math.nan
        if not (math.isfinite(weight) and 0 < weight <= 1000):
            raise InvalidRequestError(
                f"Weight {raw_weight!r} of voice {name!r} must be a number above 0 and at most 1000.",
                param="voice",
            )
        result.append((name, weight))
    return result


def canonical_blend(components: list[tuple[str, float]]) -> list[tuple[str, float]]:
    """``components`` (voice names, weights) as one blend: each voice once (its weights added),
    sorted by name, the weights normalised in float64 to sum to 1."""
    merged: dict[str, float] = {}
    for name, weight in components:
        merged[name] = merged.get(name, 0.0) + weight
    total = sum(merged.values())
    return [(name, merged[name] / total) for name in sorted(merged)]


def blend_key(canonical: list[tuple[str, float]]) -> str:
    """A ``canonical_blend`` spelt as one string: ``af_heart``, or
    ``af_heart(0.75)+bm_fable(0.25)`` with the weights at full precision."""
    if len(canonical) == 1:
        return canonical[0][0]
    return "+".join(f"{name}({weight!r})" for name, weight in canonical)


class VoiceStore:
    """All voice style tables in memory, loaded once from kokoro-onnx's ``voices-v1.0.bin``."""

    def __init__(self, styles: Mapping[str, np.ndarray]) -> None:
        self._styles = {name: np.asarray(table, dtype=np.float32) for name, table in styles.items()}

    @classmethod
    def load(cls, path: Path) -> VoiceStore:
        with np.load(path) as npz:
            return cls({name: npz[name] for name in npz.files})

    @property
    def ids(self) -> list[str]:
        return sorted(self._styles)

    def for_language(self, code: str, preferred: str) -> str:
        """A voice speaking language ``code`` (any form ``lang_code`` takes: ``fr``, ``en-GB``,
        ``en_US``): ``preferred`` if it speaks it, else the first such voice by name."""
        key = code.strip().lower().replace("_", "-")
        lang = LANGUAGES[key][1] if key in LANGUAGES else LANG_CODE_ALIASES.get(key)
        speaking = [v for v in self.ids if describe(v).lang_code == lang]
        if not speaking:
            known = ", ".join(sorted({language_tag(v) for v in self.ids}))
            raise UnknownVoiceError(
                f"No voice speaks language {code!r}; the voices speak {known}.", param="voice"
            )
        return preferred if preferred in speaking else speaking[0]

    def resolve(
        self, spec: str, as_used: Callable[[np.ndarray], np.ndarray] | None = None
    ) -> Voice:
        """The voice ``spec`` names. With ``as_used`` (a backend's ``style_as_used``), a voice
        whose style is not finite or all zeros in the model's precision is refused (400, param
        ``voice``): the model would make noise or silence of it, never speech."""
        components = parse_blend(spec)
        names = [OPENAI_VOICES.get(name, name) for name, _ in components]
        missing = [name for name in names if name not in self._styles]
        if missing:
            raise UnknownVoiceError(
                f"Unknown voice {missing[0]!r}. GET /v1/audio/voices lists the {len(self._styles)} "
                f"voices; OpenAI names ({', '.join(OPENAI_VOICES)}) work too.",
                param="voice",
            )
        # Normalised in float64, where every weight parse_blend accepts (above 0, at most 1000)
        # is a positive number: in float32, 1e-50 is 0, and 0 / 0 made the voice silence. Mixed
        # in the canonical order, so every spelling of one blend gives the same styles.
        blend = canonical_blend([(n, w) for n, (_, w) in zip(names, components, strict=True)])
        weights = np.array([w for _, w in blend], dtype=np.float64).astype(np.float32)
        styles = sum(w * self._styles[n] for w, (n, _) in zip(weights, blend, strict=True))
        styles = np.asarray(styles, dtype=np.float32)
        if as_used is not None:
            _check_usable(spec, as_used(styles))
        return Voice(spec, styles, describe(names[0]).lang_code, blend_key(blend))


def _check_usable(spec: str, styles: np.ndarray) -> None:
    """Every style of the table (one per input length) is finite and not all zeros."""
    if not np.isfinite(styles).all():
        problem = "values too large for the precision the model runs in (or not numbers)"
    elif not np.any(styles.reshape(len(styles), -1), axis=1).all():
        problem = "a style of all zeros in the precision the model runs in"
    else:
        return
    raise InvalidRequestError(
        f"Voice {spec!r} gives {problem}: the model would not speak with it. Use other voices "
        "or weights.",
        param="voice", code="unusable_voice",
    )  # fmt: skip
