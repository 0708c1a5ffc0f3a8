"""Streaming encoders: float32 PCM chunks in, bytes that can be sent at once out.

Compressed formats use one long-lived PyAV (FFmpeg) encoder and muxer per response, writing to an
in-memory sink that is drained after every chunk: packets leave as soon as the codec emits them,
with no per-chunk re-encoding and no ID3/Xing headers between chunks. ``wav`` is a header with an
unknown length followed by PCM; ``pcm`` is bare 16-bit little-endian mono samples.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from typing import Protocol, cast

import av
import numpy as np
from av.audio.stream import AudioStream


def float_to_pcm16(samples: np.ndarray) -> np.ndarray:
    """Float samples in [-1, 1] to int16, clipping what lies outside."""
    return (np.clip(samples, -1.0, 1.0) * 32767.0).astype("<i2")


class Encoder(Protocol):
    def encode(self, samples: np.ndarray) -> bytes:
        """Encode one chunk of float32 mono samples; return what can be sent now."""
        ...

    def finish(self) -> bytes:
        """Flush the codec and close the container; return the remaining bytes."""
        ...

    def close(self) -> None:
        """Release resources without flushing (the stream was abandoned); safe after finish()."""
        ...


@dataclass
class PcmEncoder:
    sample_rate: int
    """The samples' rate (bare samples carry none)."""

    def encode(self, samples: np.ndarray) -> bytes:
        return float_to_pcm16(samples).tobytes()

    def finish(self) -> bytes:
        return b""

    def close(self) -> None:
        pass


def wav_header(sample_rate: int, data_size: int = 0xFFFFFFFF) -> bytes:
    """A 44-byte PCM WAVE header; the default sizes mean "unknown length" (streaming)."""
    riff_size = 0xFFFFFFFF if data_size == 0xFFFFFFFF else 36 + data_size
    return (
        struct.pack("<4sI4s", b"RIFF", riff_size, b"WAVE")
        + struct.pack("<4sIHHIIHH", b"fmt ", 16, 1, 1, sample_rate, sample_rate * 2, 2, 16)
        + struct.pack("<4sI", b"data", data_size)
    )


@dataclass
class WavEncoder:
    sample_rate: int
    _started: bool = False

    def encode(self, samples: np.ndarray) -> bytes:
        header = b"" if self._started else wav_header(self.sample_rate)
        self._started = True
        return header + float_to_pcm16(samples).tobytes()

    def finish(self) -> bytes:
        return b"" if self._started else wav_header(self.sample_rate, 0)

    def close(self) -> None:
        pass


@dataclass
class _Sink:
    """A write-only file for the muxer; having no ``seek`` tells FFmpeg the output is a stream."""

    buffer: bytearray = field(default_factory=bytearray)

    def write(self, data: bytes) -> int:
        self.buffer += data
        return len(data)

    def drain(self) -> bytes:
        data = bytes(self.buffer)
        self.buffer.clear()
        return data


@dataclass(frozen=True)
class AvCodec:
    """An FFmpeg container and codec; called with a sample rate, it is a new encoder."""

    container: str
    codec: str
    bit_rate: int | None
    container_options: dict[str, str] = field(default_factory=dict)

    def __call__(self, sample_rate: int) -> AvEncoder:
        return AvEncoder(self, sample_rate)


class AvEncoder:
    """One FFmpeg encoder + muxer for a whole response."""

    def __init__(self, spec: AvCodec, sample_rate: int) -> None:
        self._sink = _Sink()
        self._container = av.open(
            self._sink, mode="w", format=spec.container, options=spec.container_options
        )
        self._stream = cast(AudioStream, self._container.add_stream(spec.codec, rate=sample_rate))
        self._stream.layout = "mono"
        if spec.bit_rate:
            self._stream.bit_rate = spec.bit_rate
        self._sample_rate = sample_rate
        self._pts = 0
        self._closed = False

    def encode(self, samples: np.ndarray) -> bytes:
        pcm = float_to_pcm16(samples).reshape(1, -1)
        frame = av.AudioFrame.from_ndarray(pcm, format="s16", layout="mono")
        frame.sample_rate = self._sample_rate
        frame.pts = self._pts
        self._pts += pcm.shape[1]
        for packet in self._stream.encode(frame):
            self._container.mux(packet)
        return self._sink.drain()

    def finish(self) -> bytes:
        if not self._closed:
            self._closed = True
            for packet in self._stream.encode(None):
                self._container.mux(packet)
            self._container.close()
        return self._sink.drain()

    def close(self) -> None:
        """Release FFmpeg resources without flushing (used when a stream is abandoned)."""
        if not self._closed:
            self._closed = True
            self._container.close()
