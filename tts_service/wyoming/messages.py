"""Wyoming's events in the serving layer's terms: ``describe`` → ``info`` (every voice with
the language it speaks), ``synthesize`` → a ``SpeechRequest`` for bare PCM."""

from __future__ import annotations

from pydantic import ValidationError
from wyoming.info import Attribution, Info, TtsProgram, TtsVoice
from wyoming.tts import Synthesize

from tts_service import __version__
from tts_service.errors import InvalidRequestError
from tts_service.schemas import SpeechRequest
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
        version=__version__, voices=tts_voices, supports_synthesize_streaming=False,
    )  # fmt: skip
    return Info(tts=[program])


def speech_request(synthesize: Synthesize, voices: VoiceStore, default_voice: str) -> SpeechRequest:
    """The HTTP API's request for a ``synthesize`` event: its text, in the voice it names (a
    voice, a blend or an OpenAI name), else a voice of the language it names, as bare PCM."""
    voice = synthesize.voice
    spec: str | None = None
    if voice is not None and voice.name:
        spec = voice.name
    elif voice is not None and voice.language:
        spec = voices.for_language(voice.language, default_voice)
    try:
        return SpeechRequest(input=synthesize.text, voice=spec, response_format="pcm")
    except ValidationError as exc:
        first = exc.errors()[0]
        param = str(first["loc"][0]) if first["loc"] else None
        raise InvalidRequestError(f"{param}: {first['msg']}", param=param) from None
