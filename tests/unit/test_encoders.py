"""Streaming encoders (``tts_service.audio``): chunks in, decodable bytes out, at once."""

from __future__ import annotations

import struct

import numpy as np
import pytest

from tests.helpers import decode as decode_audio
from tts_service.audio import MEDIA_TYPES, create_encoder, float_to_pcm16

SR = 24_000
CHUNK_SECONDS = (1.0, 0.5, 1.5)
TOTAL_SECONDS = sum(CHUNK_SECONDS)
AMPLITUDE = 0.5


def tone(seconds: float, hz: float = 440.0) -> np.ndarray:
    t = np.arange(int(round(seconds * SR))) / SR
    return (AMPLITUDE * np.sin(2 * np.pi * hz * t)).astype(np.float32)


def encode_chunks(fmt: str, chunks: list[np.ndarray]) -> list[bytes]:
    """What each encode() call returned, then what finish() returned."""
    encoder = create_encoder(fmt, SR)
    parts = [encoder.encode(chunk) for chunk in chunks]
    parts.append(encoder.finish())
    return parts


def decode(data: bytes) -> tuple[str, str, int, np.ndarray]:
    """(container, codec, sample rate, mono float samples) of an encoded file, decoded by FFmpeg."""
    audio = decode_audio(data)
    return audio.container, audio.codec, audio.sample_rate, audio.samples.astype(np.float64)


@pytest.fixture(scope="module")
def encoded() -> dict[str, list[bytes]]:
    chunks = [tone(seconds) for seconds in CHUNK_SECONDS]
    return {fmt: encode_chunks(fmt, chunks) for fmt in ("mp3", "opus", "aac", "flac", "wav")}


@pytest.mark.parametrize(
    ("fmt", "container", "codecs", "rate"),
    [
        ("mp3", "mp3", {"mp3", "mp3float"}, SR),
        ("opus", "ogg", {"opus", "libopus"}, 48_000),  # Opus always decodes at 48 kHz
        ("aac", "aac", {"aac"}, SR),
        ("flac", "flac", {"flac"}, SR),
        ("wav", "wav", {"pcm_s16le"}, SR),
    ],
)
def test_chunks_encode_to_one_decodable_file_of_the_same_duration(
    encoded: dict[str, list[bytes]], fmt: str, container: str, codecs: set[str], rate: int
) -> None:
    found_container, codec, found_rate, samples = decode(b"".join(encoded[fmt]))
    assert found_container == container
    assert codec in codecs
    assert found_rate == rate
    duration = samples.size / found_rate
    assert duration == pytest.approx(TOTAL_SECONDS, rel=0.05)
    rms = float(np.sqrt(np.mean(samples**2)))
    assert rms > 0.2  # a 0.5-amplitude sine has an RMS of about 0.35


@pytest.mark.parametrize("fmt", ["mp3", "opus", "aac", "flac", "wav", "pcm"])
def test_the_first_chunk_is_sent_at_once_not_buffered_to_the_end(fmt: str) -> None:
    encoder = create_encoder(fmt, SR)
    first = encoder.encode(tone(1.0))
    assert len(first) > 1000
    second = encoder.encode(tone(0.5))
    assert len(second) > 500


@pytest.mark.parametrize("fmt", ["mp3", "opus", "aac", "flac"])
def test_the_decoded_tone_keeps_its_pitch(encoded: dict[str, list[bytes]], fmt: str) -> None:
    _, _, rate, samples = decode(b"".join(encoded[fmt]))
    spectrum = np.abs(np.fft.rfft(samples))
    peak_hz = np.argmax(spectrum) * rate / samples.size
    assert peak_hz == pytest.approx(440.0, abs=5.0)


def test_mp3_has_no_id3_tag_and_no_xing_or_info_header(encoded: dict[str, list[bytes]]) -> None:
    data = b"".join(encoded["mp3"])
    assert not data.startswith(b"ID3")
    assert b"ID3" not in data
    assert data[-128:-125] != b"TAG"  # no ID3v1 trailer either
    assert b"Xing" not in data
    assert b"Info" not in data
    # Only MPEG audio frames: the stream starts with a frame sync.
    assert data[0] == 0xFF and data[1] & 0xE0 == 0xE0


def test_opus_is_an_ogg_stream_from_the_first_byte(encoded: dict[str, list[bytes]]) -> None:
    first = encoded["opus"][0]
    assert first.startswith(b"OggS")
    assert b"OpusHead" in first


def test_aac_is_adts_framed_from_the_first_byte(encoded: dict[str, list[bytes]]) -> None:
    first = encoded["aac"][0]
    assert first[0] == 0xFF and first[1] & 0xF6 == 0xF0  # ADTS sync word, layer 0


def test_flac_starts_with_its_stream_marker(encoded: dict[str, list[bytes]]) -> None:
    assert encoded["flac"][0].startswith(b"fLaC")


def test_pcm_is_bare_little_endian_int16_equal_to_the_input() -> None:
    chunks = [tone(seconds) for seconds in CHUNK_SECONDS]
    parts = encode_chunks("pcm", chunks)
    data = b"".join(parts)
    samples = np.concatenate(chunks)
    assert len(data) == 2 * samples.size
    assert [len(p) for p in parts] == [2 * c.size for c in chunks] + [0]
    decoded = np.frombuffer(data, dtype="<i2").astype(np.float64)
    # Each value is the input scaled to int16 (within one step of quantisation).
    np.testing.assert_array_less(np.abs(decoded - samples * 32767.0), 1.0)
    np.testing.assert_allclose(decoded / 32767.0, samples, atol=1 / 32767 + 1e-7)


def test_pcm16_conversion_clips_out_of_range_samples() -> None:
    values = float_to_pcm16(np.array([-2.0, -1.0, 0.0, 1.0, 2.0], dtype=np.float32))
    assert values.dtype == np.dtype("<i2")
    assert values.tolist() == [-32767, -32767, 0, 32767, 32767]


def test_wav_is_a_44_byte_streaming_header_then_the_pcm() -> None:
    chunks = [tone(seconds) for seconds in CHUNK_SECONDS]
    parts = encode_chunks("wav", chunks)
    data = b"".join(parts)
    header, body = data[:44], data[44:]
    riff, _, wave = struct.unpack("<4sI4s", header[:12])
    fmt_id, fmt_size, audio_format, channels, rate, byte_rate, align, bits = struct.unpack(
        "<4sIHHIIHH", header[12:36]
    )
    data_id, _ = struct.unpack("<4sI", header[36:44])
    assert (riff, wave, fmt_id, data_id) == (b"RIFF", b"WAVE", b"fmt ", b"data")
    assert (fmt_size, audio_format, channels, rate, bits) == (16, 1, 1, SR, 16)
    assert (byte_rate, align) == (SR * 2, 2)
    # The header goes out with the first chunk, and only once.
    assert len(parts[0]) == 44 + 2 * chunks[0].size
    assert parts[1:] == [float_to_pcm16(c).tobytes() for c in chunks[1:]] + [b""]
    assert body == float_to_pcm16(np.concatenate(chunks)).tobytes()


def test_wav_of_no_audio_is_still_a_valid_empty_file() -> None:
    data = create_encoder("wav", SR).finish()
    assert len(data) == 44
    assert data.startswith(b"RIFF") and data[8:12] == b"WAVE"
    assert struct.unpack("<I", data[40:44]) == (0,)


@pytest.mark.parametrize("fmt", ["mp3", "opus", "aac", "flac"])
def test_finish_twice_returns_nothing_more(fmt: str) -> None:
    encoder = create_encoder(fmt, SR)
    encoder.encode(tone(0.5))
    assert encoder.finish()
    assert encoder.finish() == b""


def test_every_response_format_has_its_media_type() -> None:
    assert MEDIA_TYPES == {
        "mp3": "audio/mpeg",
        "opus": "audio/ogg",
        "aac": "audio/aac",
        "flac": "audio/flac",
        "wav": "audio/wav",
        "pcm": "audio/pcm",
    }
