"""Decode what the service sent back, with PyAV, so tests assert on real audio."""

from __future__ import annotations

import io
import json
from dataclasses import dataclass

import av
import numpy as np


@dataclass
class Decoded:
    samples: np.ndarray  # float32 mono
    sample_rate: int
    codec: str
    container: str

    @property
    def duration(self) -> float:
        return self.samples.size / self.sample_rate

    @property
    def rms(self) -> float:
        return float(np.sqrt(np.mean(np.square(self.samples)))) if self.samples.size else 0.0


def decode(data: bytes, fmt: str | None = None) -> Decoded:
    """Decode ``data``; ``fmt="pcm"`` reads headerless 16-bit 24 kHz mono."""
    if fmt == "pcm":
        samples = np.frombuffer(data, dtype="<i2").astype(np.float32) / 32768.0
        return Decoded(samples, 24_000, "pcm_s16le", "raw")
    with av.open(io.BytesIO(data)) as container:
        stream = container.streams.audio[0]
        frames = [
            frame.to_ndarray().astype(np.float32).reshape(frame.samples, -1).mean(axis=1)
            if frame.format.is_packed
            else frame.to_ndarray().astype(np.float32).mean(axis=0)
            for frame in container.decode(stream)
        ]
        rate = stream.codec_context.sample_rate
        samples = np.concatenate(frames) if frames else np.zeros(0, np.float32)
        if stream.codec_context.format.name.startswith("s16"):
            samples = samples / 32768.0
        return Decoded(samples, rate, stream.codec_context.name, container.format.name)


def sse_events(text: str) -> list[tuple[str, dict]]:
    """(event name, JSON data) of every event of a text/event-stream body (pings skipped)."""
    parsed: list[tuple[str, dict]] = []
    for block in text.replace("\r\n", "\n").split("\n\n"):
        name, data = None, []
        for line in block.split("\n"):
            if line.startswith("event:"):
                name = line[len("event:") :].strip()
            elif line.startswith("data:"):
                data.append(line[len("data:") :].strip())
        if name and data:
            parsed.append((name, json.loads("\n".join(data))))
    return parsed
