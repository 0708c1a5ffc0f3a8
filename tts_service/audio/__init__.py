"""Streaming audio encoders and the table of response formats that chooses them."""

from tts_service.audio.encoders import Encoder, float_to_pcm16
from tts_service.audio.formats import FORMATS, MEDIA_TYPES, AudioFormat, create_encoder

__all__ = ["FORMATS", "MEDIA_TYPES", "AudioFormat", "Encoder", "create_encoder", "float_to_pcm16"]
