"""Streaming audio encoders, one per response format."""

from tts_service.audio.encoders import MEDIA_TYPES, Encoder, create_encoder, float_to_pcm16

__all__ = ["MEDIA_TYPES", "Encoder", "create_encoder", "float_to_pcm16"]
