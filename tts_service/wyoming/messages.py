"""Wyoming's events in the serving layer's terms: ``describe`` → ``info`` (every voice with
the language it speaks), ``synthesize`` → a ``SpeechRequest`` for bare PCM, the streaming form's
``synthesize-start`` → a turn's ``TurnOptions`` and ``synthesize-chunk`` → its text."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ValidationError
from wyoming.info import Attribution, Info, TtsProgram, TtsVoice

from tts_service import __version__
from tts_service.errors import InvalidRequestError
from tts_service.schemas import SpeechRequest, TurnOptions
from tts_service.voices import VoiceStore, describe, language_tag

SAMPLE_WIDTH = 2
"""Bytes per sample of the audio sent: the ``pcm`` format's 16-bit little-endian mono."""
CHANNELS = 1

ATTRIBUTION = Attribution(
    name="Kokoro-82M by hexgrad (Apache-2.0)", url="https://huggingface.co/hexgrad/Kokoro-82M"
)


def service_info(voices: VoiceStore) -> Info:
    """``info``: one TTS program listing every voice, with the language it speaks."""
    tts_voices = []
    for voice_id in voices.ids:
        card = describe(voice_id)
        tts_voices.append(
            TtsVoice(
                name=voice_id, attribution=ATTRIBUTION, installed=True,
                description=f"{card.name} ({card.language}, {card.gender})", version="1.0",
                languages=[language_tag(voice_id)],
            )
        )  # fmt: skip
    program = TtsProgram(
        name="tts-service", attribution=ATTRIBUTION, installed=True,
        description="Kokoro-82M text-to-speech (Apache-2.0), streamed sentence by sentence",
        version=__version__, voices=tts_voices, supports_synthesize_streaming=True,
    )  # fmt: skip
    return Info(tts=[program])


class SynthesizeVoiceData(BaseModel):
    """``synthesize``'s (and ``synthesize-start``'s) ``voice``: a name (any voice spec the HTTP API takes) or a language."""

    name: str | None = None
    language: str | None = None
    speaker: str | None = None
    """Accepted and ignored: no voice has several speakers."""


class SynthesizeData(BaseModel):
    """The data of a ``synthesize`` event, checked (the library's parser takes any shape)."""

    text: str
    voice: SynthesizeVoiceData | None = None


class SynthesizeStartData(BaseModel):
    """The data of a ``synthesize-start`` event (its ``text_format`` and ``context`` are
    ignored, as ``synthesize``'s are)."""

    voice: SynthesizeVoiceData | None = None


class SynthesizeChunkData(BaseModel):
    """The data of a ``synthesize-chunk`` event."""

    text: str


def speech_request(
    data: Mapping[str, Any], voices: VoiceStore, default_voice: str
) -> SpeechRequest:
    """The HTTP API's request for a ``synthesize`` event's ``data``: its text, in the voice it
    names (a voice, a blend or an OpenAI name), else a voice of the language it names, as bare
    PCM. Data of another shape is an ``InvalidRequestError`` naming the field."""
    try:
        synthesize = SynthesizeData.model_validate(data)
    except ValidationError as exc:
        raise _invalid(exc, {"text": "text", "voice": "voice"}) from None
    spec = _voice_spec(synthesize.voice, voices, default_voice)
    try:
        return SpeechRequest(input=synthesize.text, voice=spec, response_format="pcm")
    except ValidationError as exc:
        raise _invalid(exc, {"input": "text", "voice": "voice"}) from None


def turn_options(data: Mapping[str, Any], voices: VoiceStore, default_voice: str) -> TurnOptions:
    """A turn's settings for a ``synthesize-start`` event's ``data``: its voice chosen as for
    ``synthesize``, bare PCM. Data of another shape is an ``InvalidRequestError``."""
    try:
        start = SynthesizeStartData.model_validate(data)
    except ValidationError as exc:
        raise _invalid(exc, {"voice": "voice"}) from None
    spec = _voice_spec(start.voice, voices, default_voice)
    try:
        return TurnOptions(voice=spec, response_format="pcm")
    except ValidationError as exc:
        raise _invalid(exc, {"voice": "voice"}) from None


def chunk_text(data: Mapping[str, Any]) -> str:
    """The text of a ``synthesize-chunk`` event's ``data`` (an ``InvalidRequestError`` if it
    has none)."""
    try:
        return SynthesizeChunkData.model_validate(data).text
    except ValidationError as exc:
        raise _invalid(exc, {"text": "text"}) from None


def _voice_spec(
    voice: SynthesizeVoiceData | None, voices: VoiceStore, default_voice: str
) -> str | None:
    """The voice spec a ``voice`` names, else a voice of the language it names (None: the
    default voice)."""
    if voice is not None and voice.name is not None:
        return voice.name
    if voice is not None and voice.language is not None:
        return voices.for_language(voice.language, default_voice)
    return None


def _invalid(exc: ValidationError, params: Mapping[str, str]) -> InvalidRequestError:
    """pydantic's first complaint, about the ``synthesize`` field it concerns."""
    first = exc.errors()[0]
    location = [str(part) for part in first["loc"]]
    param = params.get(location[0]) if location else None
    where = ".".join([param or "data", *location[1:]])
    return InvalidRequestError(f"{where}: {first['msg']}", param=param, code="invalid_value")
