"""The response formats: one table that the request schema, the responses, the encoder choice and
the web player (through ``GET /v1/audio/formats``) all read. Adding a format is one entry here,
plus an encoder in ``encoders.py`` if no existing one fits."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from tts_service.audio.encoders import AvCodec, Encoder, PcmEncoder, WavEncoder


@dataclass(frozen=True)
class AudioFormat:
    name: str
    """The ``response_format`` value."""
    media_type: str
    """The response's ``Content-Type``."""
    extension: str
    """A file name's extension for this audio."""
    streams: bool
    """Whether a browser can play it while it downloads: each chunk continues a stream a decoder
    joins at once (MPEG or ADTS frames through Media Source Extensions, bare samples through Web
    Audio). The others are streamed too, but played once complete."""
    encoder: Callable[[int], Encoder]
    """A new encoder for one response, given the sample rate."""
    description: str


FORMATS: dict[str, AudioFormat] = {
    audio_format.name: audio_format
    for audio_format in (
        AudioFormat(
            "mp3", "audio/mpeg", "mp3", streams=True,
            # No ID3v2 tag and no Xing/LAME frame: nothing but MPEG frames, so chunks concatenate.
            encoder=AvCodec("mp3", "libmp3lame", 64_000, {"id3v2_version": "0", "write_xing": "0"}),
            description="MP3, 64 kbit/s",
        ),
        AudioFormat(
            "opus", "audio/ogg", "ogg", streams=False,
            # Ogg pages are flushed per packet so each chunk's audio leaves at once.
            encoder=AvCodec("ogg", "libopus", 32_000, {"flush_packets": "1", "page_duration": "20000"}),
            description="Opus in Ogg, 32 kbit/s",
        ),
        AudioFormat(
            "aac", "audio/aac", "aac", streams=True,
            encoder=AvCodec("adts", "aac", 64_000),
            description="AAC in ADTS frames, 64 kbit/s",
        ),
        AudioFormat(
            "flac", "audio/flac", "flac", streams=False,
            encoder=AvCodec("flac", "flac", None),
            description="FLAC, lossless",
        ),
        AudioFormat(
            "wav", "audio/wav", "wav", streams=False,
            encoder=WavEncoder,
            description="16-bit PCM in WAV; the header's lengths are unknown when streamed",
        ),
        AudioFormat(
            "pcm", "audio/pcm", "pcm", streams=True,
            encoder=PcmEncoder,
            description="Bare 16-bit little-endian mono samples, no header",
        ),
    )
}  # fmt: skip

ResponseFormat = Literal["mp3", "opus", "aac", "flac", "wav", "pcm"]
"""The names in ``FORMATS``, spelt out for type checkers (a test keeps the two equal)."""

MEDIA_TYPES: dict[str, str] = {name: spec.media_type for name, spec in FORMATS.items()}


def create_encoder(fmt: str, sample_rate: int) -> Encoder:
    """A new encoder for one response in format ``fmt``."""
    return FORMATS[fmt].encoder(sample_rate)
