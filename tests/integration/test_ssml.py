"""The SSML subset on the real server with the real model: a break is a silence of its length,
a substitution is heard as its alias (offline Whisper), a slow prosody rate is slower."""

from __future__ import annotations

import numpy as np

from tests.helpers import decode, resample_to_16k, speech
from tests.integration.conftest import RunningServer

SILENCE = 1e-3
"""Below this amplitude a sample is silence (the model's own pauses are not this quiet)."""


def longest_silence(samples: np.ndarray, sample_rate: int) -> float:
    """Seconds of the longest run of silent samples."""
    quiet = np.concatenate([[False], np.abs(samples) < SILENCE, [False]])
    edges = np.flatnonzero(np.diff(quiet.astype(np.int8)))
    return float(np.max(edges[1::2] - edges[::2], initial=0)) / sample_rate


def test_a_break_is_silence_and_a_sub_is_heard_as_its_alias(server: RunningServer, whisper) -> None:  # noqa: ANN001
    text = (
        'The meeting starts soon. <break time="1s"/> The '
        '<sub alias="World Wide Web Consortium">W3C</sub> writes the standards.'
    )
    response = speech(server, input=text, response_format="pcm")
    assert response.status_code == 200, response.text
    audio = decode(response.content, "pcm")
    assert longest_silence(audio.samples, audio.sample_rate) >= 0.95
    plain = speech(server, input=text.replace('<break time="1s"/> ', ""), response_format="pcm")
    without = decode(plain.content, "pcm")
    assert longest_silence(without.samples, without.sample_rate) < 0.95  # the break made it
    segments, _ = whisper.transcribe(
        resample_to_16k(audio.samples, audio.sample_rate), language="en", beam_size=1
    )
    heard = " ".join(segment.text for segment in segments).lower()
    assert "consortium" in heard and "meeting" in heard, heard


def test_a_prosody_rate_makes_the_same_sentence_last_longer_or_shorter(
    server: RunningServer,
) -> None:
    sentence = "The weather is nice today, so we should go for a walk in the park."
    durations = {}
    for name, text in [
        ("plain", sentence),
        ("slow", f'<prosody rate="slow">{sentence}</prosody>'),
        ("x-fast", f'<prosody rate="x-fast">{sentence}</prosody>'),
    ]:
        response = speech(server, input=text, response_format="pcm")
        assert response.status_code == 200, response.text
        durations[name] = decode(response.content, "pcm").duration
    # slow is 0.75 x the speed, x-fast 1.5 x; the model's durations are not quite inverse to
    # its speed (measured: 1.37 x and 0.65 x as long), and the pauses do not change.
    assert durations["slow"] > 1.2 * durations["plain"], durations
    assert durations["x-fast"] < 0.85 * durations["plain"], durations
