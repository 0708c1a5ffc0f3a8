"""Memory bounded by construction: a slowly spoken request costs no more memory than one at
normal speed (real model, a fresh server per measurement, resident memory read from ``/proc``)."""

from __future__ import annotations

from pathlib import Path

import httpx

from tests.helpers import SPEECH, speech
from tests.integration.conftest import start_server, stop_server

ONE_PIECE = (
    "For most of recorded history, the coast was the most dangerous place a ship could be. "
    "Storms in open water were terrible, but it was the last few miles before harbour that broke "
    "hulls. A captain could cross an ocean by the stars and still run aground "
    "within sight of home, because at night a rocky headland looks exactly like the sea around "
    "it. The lighthouse was the answer to that problem, and it is one of the oldest pieces of "
    "public infrastructure."
)
"""477 phonemes: spoken unsplit at speed 1, one inference of about the largest size the model
takes (about 28 s of audio)."""


def _memory_mb(pid: int, field: str) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024
    raise AssertionError(f"no {field} for process {pid}")


def _request_memory(tmp: Path, speed: float) -> tuple[float, float]:
    """A fresh server (one inference at a time), warmed by a short request; then ``ONE_PIECE``
    unsplit at ``speed``: resident memory before it and its peak during it (MB)."""
    # Whole chunks: a first chunk rendered in windows needs far less memory than a later chunk
    # rendered whole, and the comparison is of chunks bounded in audio seconds.
    server = start_server(
        tmp, {"TTS_URGENT_WORKERS": "0", "TTS_INFERENCE_WORKERS": "1", "TTS_WINDOWS": "false"}
    )
    try:
        pid = server.process.pid
        assert speech(server, input="Hello there.", response_format="pcm").status_code == 200
        Path(f"/proc/{pid}/clear_refs").write_text("5")  # the peak (VmHWM) counts from here
        before = _memory_mb(pid, "VmRSS")
        body = {
            "model": "kokoro", "voice": "af_heart", "input": ONE_PIECE, "speed": speed,
            "split_sentences": False, "stream": False, "response_format": "pcm",
        }  # fmt: skip
        # Minutes of audio on a busy 2-core machine: no timeout but the test's own.
        reply = httpx.post(f"{server.url}{SPEECH}", json=body, timeout=None)
        assert reply.status_code == 200, reply.text
        return before, _memory_mb(pid, "VmHWM")
    finally:
        stop_server(server)


def test_a_slowly_spoken_unsplit_request_needs_no_more_memory_than_at_normal_speed(
    tmp_path: Path,
) -> None:
    """Regression: chunks were bounded in phonemes only, so a text one model-sized piece long,
    spoken unsplit at speed 0.25, was one inference of four times the audio (145 s seen), and its
    memory grew with it: the process went from 1.0 to 2.28 GB, past the shipped 2 GiB limit, and
    stayed there (onnxruntime's arena keeps its peak). Chunks are now bounded in audio seconds,
    so at speed 0.25 the same text goes as several chunks no longer than the one at speed 1
    (its growth was 4.2x that at speed 1 before)."""
    normal_before, normal_peak = _request_memory(tmp_path, 1.0)
    slow_before, slow_peak = _request_memory(tmp_path, 0.25)
    normal_growth = normal_peak - normal_before
    assert normal_growth > 50  # the measurement sees an inference's working memory
    assert slow_peak - slow_before < 2 * normal_growth, (normal_growth, slow_peak - slow_before)
