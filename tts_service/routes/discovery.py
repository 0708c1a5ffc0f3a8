"""Model, voice and format discovery (open without an API key, as Open WebUI expects)."""

from __future__ import annotations

from fastapi import APIRouter, Request

from tts_service.audio import FORMATS
from tts_service.backends import SAMPLE_RATE
from tts_service.schemas import (
    MODEL_IDS,
    AudioFormatCard,
    AudioFormatList,
    AudioModel,
    AudioModelList,
    ModelCard,
    ModelList,
    SpeechRequest,
    VoiceCard,
    VoiceList,
)
from tts_service.voices import describe

router = APIRouter(tags=["discovery"])


@router.get("/v1/models")
async def list_models() -> ModelList:
    return ModelList(data=[ModelCard(id=model_id) for model_id in MODEL_IDS])


@router.get("/v1/audio/models")
async def list_audio_models() -> AudioModelList:
    return AudioModelList(models=[AudioModel(id=model_id, name=model_id) for model_id in MODEL_IDS])


@router.get("/v1/audio/voices")
async def list_voices(request: Request) -> VoiceList:
    _, voices = request.app.state.service.require()
    return VoiceList(voices=[VoiceCard(**vars(describe(voice_id))) for voice_id in voices.ids])


@router.get("/v1/audio/formats")
async def list_formats(request: Request) -> AudioFormatList:
    """The response formats, from the one table that also picks their encoders; the web player
    builds its format menu and its playback paths from this list, and the article reader its
    parts from the input limit."""
    return AudioFormatList(
        default=SpeechRequest.model_fields["response_format"].default,
        sample_rate=SAMPLE_RATE,
        max_input_chars=request.app.state.service.settings.max_input_chars,
        formats=[
            AudioFormatCard(
                id=spec.name, media_type=spec.media_type, extension=spec.extension,
                streams=spec.streams, description=spec.description,
            )
            for spec in FORMATS.values()
        ],
    )  # fmt: skip
