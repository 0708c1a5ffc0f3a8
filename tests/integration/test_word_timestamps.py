"""The full server sends word timestamps that fit its audio, on each backend: the ONNX backend's
durations come from its split model's text stage, the PyTorch backend's from ``KModel``."""

from __future__ import annotations

import numpy as np
import pytest

from tests.helpers import resample_to_16k, timed_speech, words
from tests.integration.conftest import RunningServer

TIMED_TEXT = (
    "The weather is nice today. We should go for a walk in the park, then read a good book at home."
)
WHISPER_START_BOUND_S = 0.2
"""Median gap between our word starts and Whisper base's own word timestamps: 0.10 s measured
(Whisper puts starts earlier); a timing that forgot the trimmed leading silence is ~0.3 s later,
one that forgot a chunk's offset seconds off."""


def test_the_server_sends_word_timestamps_that_fit_the_audio(
    backend_server: RunningServer,
    whisper,  # noqa: ANN001
) -> None:
    deltas, audio, timed = timed_speech(backend_server.url, TIMED_TEXT)
    assert len(deltas) >= 2  # times run on across chunks
    assert [w["word"] for w in timed] == TIMED_TEXT.split()
    for before, word in zip(timed, timed[1:], strict=False):
        assert word["start"] <= word["end"] and before["end"] <= word["start"], (before, word)
    assert timed[-1]["end"] == pytest.approx(audio.duration, rel=0.03)

    # An independent ear: Whisper's word timestamps of the audio that came back.
    segments, _ = whisper.transcribe(
        resample_to_16k(audio.samples, audio.sample_rate), language="en", word_timestamps=True
    )
    heard = [(words(w.word), w.start) for segment in segments for w in segment.words]
    ours = iter((words(w["word"]), w["start"]) for w in timed)
    gaps = []
    for word, start in heard:  # pair each heard word with the next of ours that says it
        for said, our_start in ours:
            if said == word:
                gaps.append(abs(start - our_start))
                break
    assert len(gaps) >= 0.8 * len(timed), heard
    assert float(np.median(gaps)) < WHISPER_START_BOUND_S, gaps
