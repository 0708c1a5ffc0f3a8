"""Model and voice discovery (open without an API key, as Open WebUI expects)."""

from __future__ import annotations

from fastapi import APIRouter, Request

from tts_service.schemas import (
    MODEL_IDS,
    AudioModel,
    AudioModelList,
    ModelCard,
    ModelList,
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
