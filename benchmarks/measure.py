"""One timed speech request: when each piece of the response arrived, and what audio it held."""

from __future__ import annotations

import io
import socket
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import av
import httpx

PCM_BYTES_PER_SECOND = 24_000 * 2


@dataclass
class Measurement:
    case: str
    mode: str  # "stream" (sentence streaming), "baseline" (one piece), "load-conv", "load-long"
    fmt: str
    voice: str
    stream: bool
    chars: int
    status: int = 0
    ttfa: float = float("nan")
    last_chunk: float = float("nan")
    total: float = float("nan")
    bytes: int = 0
    audio_seconds: float = float("nan")
    arrivals: list[tuple[float, int]] = field(default_factory=list)
    error: str | None = None

    @property
    def gap(self) -> float:
        """Seconds between the first and the last piece of audio."""
        return self.last_chunk - self.ttfa

    @property
    def chars_per_second(self) -> float:
        return self.chars / self.total if self.total else float("nan")

    @property
    def real_time_factor(self) -> float:
        """Audio seconds delivered per wall-clock second (above 1: faster than real time)."""
        return self.audio_seconds / self.total if self.total else float("nan")

    def summary(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("arrivals")
        data |= {"gap": self.gap, "chars_per_second": self.chars_per_second,
                 "real_time_factor": self.real_time_factor}  # fmt: skip
        return data


def audio_duration(data: bytes, fmt: str) -> float:
    if fmt == "pcm":
        return len(data) / PCM_BYTES_PER_SECOND
    with av.open(io.BytesIO(data)) as container:
        stream = container.streams.audio[0]
        samples = sum(frame.samples for frame in container.decode(stream))
        return samples / stream.codec_context.sample_rate


def measure(
    client: httpx.Client,
    url: str,
    payload: dict[str, Any],
    *,
    case: str,
    mode: str,
    read_size: int = 1024,
    api_key: str | None = None,
) -> Measurement:
    """POST ``payload`` and read the body in ``read_size`` pieces, timing each one."""
    result = Measurement(
        case=case, mode=mode, fmt=payload["response_format"], voice=str(payload["voice"]),
        stream=bool(payload.get("stream", True)), chars=len(payload["input"]),
    )  # fmt: skip
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    body = bytearray()
    started = time.perf_counter()
    try:
        with client.stream(
            "POST", f"{url}/v1/audio/speech", json=payload, headers=headers
        ) as response:
            result.status = response.status_code
            for piece in response.iter_raw(read_size):
                now = time.perf_counter() - started
                result.arrivals.append((now, len(piece)))
                body += piece
        result.total = time.perf_counter() - started
        if result.status != 200:
            result.error = body[:300].decode(errors="replace")
            return result
        result.bytes = len(body)
        result.ttfa = result.arrivals[0][0]
        result.last_chunk = result.arrivals[-1][0]
        result.audio_seconds = audio_duration(bytes(body), result.fmt)
    except (httpx.HTTPError, av.error.FFmpegError, IndexError) as exc:
        result.error = f"{type(exc).__name__}: {exc}"
    return result


def stalls(m: Measurement) -> list[float]:
    """Each wait a listener would have had once playback started at the first byte: piece i
    arrives after the audio of pieces before it has finished playing. Audio per byte is taken as
    constant (exact for pcm/wav, close for the constant-bit-rate codecs)."""
    if m.error or not m.arrivals or not m.bytes:
        return []
    seconds_per_byte = m.audio_seconds / m.bytes
    start = m.arrivals[0][0]
    received = 0
    waits: list[float] = []
    waited = 0.0
    for at, size in m.arrivals:
        playable_until = start + waited + received * seconds_per_byte
        if at > playable_until:
            waits.append(at - playable_until)
            waited += waits[-1]
        received += size
    return waits


def playback_stall(m: Measurement) -> float:
    """How long a listener would have waited in all, once playback started (see ``stalls``)."""
    if m.error or not m.arrivals or not m.bytes:
        return float("nan")
    return sum(stalls(m))


def longest_gap(m: Measurement) -> float:
    """The longest single wait of a listener once playback started (see ``stalls``)."""
    if m.error or not m.arrivals or not m.bytes:
        return float("nan")
    return max(stalls(m), default=0.0)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now, for a server started locally."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def process_memory_mb(pid: int, field: str = "VmRSS") -> float:
    """A process's memory from ``/proc/<pid>/status`` (Linux): ``VmRSS`` now, ``VmHWM`` peak."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no {field} for process {pid}")
