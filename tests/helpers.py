"""What the unit, integration, deploy and browser tests share: the texts they speak, a decoder for
the audio that comes back, readers for SSE and Prometheus bodies, the check of OpenAI's error
shape, the word comparisons the Whisper tests make, and readers and checks of captions.

Fixtures live in each folder's ``conftest.py``; the stand-in backend in ``tests/unit/standin.py``;
the table of malformed requests in ``tests/bad_inputs.py``. Test modules import from these, never
from one another (``tests/test_layout.py`` checks).
"""

from __future__ import annotations

import base64
import html
import io
import json
import re
import socket
import time
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import av
import httpx
import numpy as np
import pytest
import webvtt
from prometheus_client.parser import text_string_to_metric_families

from benchmarks.ear import edit_distance

# The ear the benchmarks use too: Whisper base, assembled offline, and its input rate.
from benchmarks.ear import resample_to_16k as resample_to_16k
from benchmarks.ear import whisper_base as whisper_base
from tts_service.captions import CUE_POLICY
from tts_service.schemas import WordTimestamp

if TYPE_CHECKING:
    from tests.integration.conftest import RunningServer

SPEECH = "/v1/audio/speech"
CAPTIONS = "/v1/audio/captions"
GOOD: dict[str, Any] = {"input": "Hello there.", "voice": "af_heart", "response_format": "pcm"}
"""A request that is spoken: the base the bad and odd requests are made from."""

TWO_SENTENCES = "Hello there. This is a test of the system."
THREE_SENTENCES = "One sentence here. Two sentences here. Three sentences here."
SHORT_PHRASE = (
    "Hi Mediclinic.  Your EHR project sounds interesting and has the potential for a lot of impact."
)
"""The benchmarks' short phrase: a short sentence (the first chunk), then a long one."""
LONG_TEXT = " ".join(
    f"This is sentence number {n} of a long text that keeps the server busy for a while."
    for n in range(1, 21)
)
PARITY_SENTENCES = [
    "The weather is nice today. We should go for a walk in the park.",
    "Please turn off the lights in the kitchen, then lock the front door.",
    "Reading a good book is a fine way to spend a quiet evening at home.",
]
"""What the backends are compared on (the torch backend, the fp32 ONNX export)."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def which_logged(
    logs: Sequence[Callable[[], str]], request_id: str, line: str = "speech ", wait_s: float = 30
) -> int:
    """Index of the replica whose log (``logs[i]()``) has ``[request_id] <line>``: which replica
    served a request behind a balancer. Waits, since a request's line is written as its stream
    closes (``chunk N`` lines need debug logs)."""
    deadline = time.monotonic() + wait_s
    while True:
        found = [i for i, log in enumerate(logs) if f"[{request_id}] {line}" in log()]
        if found:
            (index,) = found
            return index
        assert time.monotonic() < deadline, f"no replica logged [{request_id}] {line}"
        time.sleep(0.05)


def speech(server: RunningServer, **body: object) -> httpx.Response:
    """POST ``body`` (model ``kokoro``, voice ``af_heart`` unless given) to a running server."""
    payload = {"model": "kokoro", "voice": "af_heart", **body}
    return httpx.post(f"{server.url}{SPEECH}", json=payload, timeout=120)


# --- what came back ------------------------------------------------------------------------------


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
    """Decode ``data`` with PyAV; ``fmt="pcm"`` reads headerless 16-bit 24 kHz mono."""
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


def timed_speech(url: str, text: str) -> tuple[list[dict], Decoded, list[dict]]:
    """Speak ``text`` (af_heart) over SSE with word timestamps: the audio deltas' data, the
    decoded audio, and the timed words in order."""
    body = {
        "input": text, "voice": "af_heart", "response_format": "pcm", "stream_format": "sse",
        "timestamps": True,
    }  # fmt: skip
    response = httpx.post(f"{url}{SPEECH}", json=body, timeout=120)
    assert response.status_code == 200, response.text
    deltas = [data for event, data in sse_events(response.text) if event == "speech.audio.delta"]
    audio = decode(b"".join(base64.b64decode(d["audio"]) for d in deltas), "pcm")
    return deltas, audio, [word for delta in deltas for word in delta["words"]]


def metric(text: str, name: str, **labels: str) -> float:
    """The value of sample ``name`` with exactly these ``labels`` in a Prometheus text exposition
    (``/metrics``), read as Prometheus would (0.0 when absent, as a counter that has not counted
    yet is)."""
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and sample.labels == labels:
                return float(sample.value)
    return 0.0


def assert_openai_error(
    response: httpx.Response,
    status: int,
    *,
    error_type: str | None = None,
    param: str | None = None,
    code: str | None = None,
) -> dict[str, Any]:
    """``response`` is ``status`` with OpenAI's error body and an X-Request-Id; ``error_type``,
    ``param`` and ``code`` are checked where given. Returns the error object."""
    assert response.status_code == status, response.text[:500]
    assert response.headers["content-type"].startswith("application/json")
    assert response.headers.get("x-request-id")
    body = response.json()
    assert set(body) == {"error"}
    error = body["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert isinstance(error["message"], str) and error["message"]
    assert isinstance(error["type"], str) and error["type"]
    assert error["param"] is None or isinstance(error["param"], str)
    assert error["code"] is None or isinstance(error["code"], str)
    if error_type is not None:
        assert error["type"] == error_type, error
    if param is not None:
        assert error["param"] == param, error
    if code is not None:
        assert error["code"] == code, error
    return error


def read_response(sock: socket.socket) -> httpx.Response:
    """The one HTTP/1.1 response a server sends on ``sock`` before it closes the connection (a
    reset after the response counts as closing)."""
    data = b""
    try:
        while piece := sock.recv(65536):
            data += piece
    except ConnectionResetError:
        pass
    head, _, body = data.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    assert status_line.startswith("HTTP/1.1 "), data[:200]
    headers = [tuple(part.strip() for part in line.split(":", 1)) for line in lines]
    return httpx.Response(int(status_line.split()[1]), headers=headers, content=body)


# --- what Whisper heard --------------------------------------------------------------------------


def words(text: str) -> list[str]:
    return re.sub(r"[^a-z' ]+", " ", text.lower().replace("-", " ")).split()


def word_error_rate(reference: str, hypothesis: str) -> float:
    return edit_distance(words(reference), words(hypothesis)) / max(1, len(words(reference)))


def letters(text: str) -> str:
    """``text`` lower-cased (NFKC) without punctuation and symbols, in any script."""
    text = unicodedata.normalize("NFKC", text).lower()
    return "".join(" " if unicodedata.category(c)[0] in "PSZ" else c for c in text)


def any_word_error_rate(reference: str, hypothesis: str) -> float:
    """Word error rate for words of any script (accents, Devanagari's vowel signs kept)."""
    ref, hyp = letters(reference).split(), letters(hypothesis).split()
    return edit_distance(ref, hyp) / max(1, len(ref))


def character_error_rate(reference: str, hypothesis: str) -> float:
    """Character error rate, for scripts written without spaces between words (ja, zh)."""
    ref, hyp = "".join(letters(reference).split()), "".join(letters(hypothesis).split())
    return edit_distance(ref, hyp) / max(1, len(ref))


# -- captions --------------------------------------------------------------------------------

CAPTIONED_TEXT = (
    "Hello there, my friend. We walked along the river, then we sat on the grass for a while "
    "and paid $12.50 for two coffees at 3:45 p.m. The birds were singing quietly in the trees "
    "above us, and nobody said anything for a long, long time; it was the kind of afternoon "
    "that you remember for years! Did we talk about the future? Perhaps."
)


def timed_words(text: str, *, word_s: float = 0.3, gap_s: float = 0.05) -> list[WordTimestamp]:
    """The words of ``text`` spoken one after another, each ``word_s`` long."""
    words, t = [], 0.0
    for word in text.split():
        words.append(WordTimestamp(word=word, start=round(t, 3), end=round(t + word_s, 3)))
        t += word_s + gap_s
    return words


@dataclass(frozen=True)
class CaptionCue:
    start: float
    end: float
    lines: list[str]

    @property
    def text(self) -> str:
        return " ".join(self.lines)


def read_captions(text: str, fmt: str) -> list[CaptionCue]:
    """The cues of ``text`` as webvtt-py parses the format (WebVTT's character references read
    as the characters they stand for)."""
    if fmt == "vtt":
        captions = webvtt.from_string(text).captions
    else:
        captions = webvtt.from_buffer(io.StringIO(text), format="srt").captions
    unescape = html.unescape if fmt == "vtt" else str
    return [
        CaptionCue(
            c.start_time.in_milliseconds() / 1000,
            c.end_time.in_milliseconds() / 1000,
            [unescape(line) for line in c.text.split("\n")],
        )  # fmt: skip
        for c in captions
    ]


def assert_captions_fit(cues: list[CaptionCue], words: Sequence[WordTimestamp]) -> None:
    """The cues say the words in order, start with the first word and end with the last,
    follow each other without overlapping, and keep to the policy's lines and seconds."""
    assert " ".join(cue.text for cue in cues).split() == [w.word for w in words]
    assert cues[0].start == pytest.approx(words[0].start, abs=0.0005)
    assert cues[-1].end == pytest.approx(words[-1].end, abs=0.0005)
    for cue in cues:
        assert cue.start < cue.end
        assert len(cue.lines) <= CUE_POLICY.max_lines
        assert all(len(line) <= CUE_POLICY.max_line_chars for line in cue.lines)
        assert cue.end - cue.start <= CUE_POLICY.max_seconds
    for before, after in zip(cues, cues[1:], strict=False):
        assert before.end <= after.start
