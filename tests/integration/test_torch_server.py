"""The full server with ``TTS_BACKEND=torch`` on the CPU sends word timestamps that fit its audio.

The API tests that exercise the backend (formats, speed, SSE, the openai client, errors from the
model's side) run against both backends through the ``backend_server`` fixture
(``tests/integration/conftest.py``). Left out of that to keep the suite short: tests that exercise
no backend code beyond what those do (the 400 table, the SDK's per-format calls, which
``test_every_format_streams_decodable_speech`` covers), and
``test_first_audio_arrives_before_second_sentence_is_synthesized``, which expects two chunks where
main's chunker now plans four (it fails on the ONNX server too). ``TTS_TEST_BACKEND=torch python -m
pytest tests/integration`` runs every integration test against a torch server.
"""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("torch", reason="the PyTorch backend comes with the test extra")


from tests.helpers import resample_to_16k, timed_speech, words
from tests.integration.conftest import RunningServer

TIMED_TEXT = (
    "The weather is nice today. We should go for a walk in the park, then read a good book at home."
)
WHISPER_START_BOUND_S = 0.2
"""Median gap between our word starts and Whisper base's own word timestamps: 0.10 s measured
(Whisper puts starts earlier); a timing that forgot the trimmed leading silence is ~0.3 s later,
one that forgot a chunk's offset seconds off."""


def test_torch_server_sends_word_timestamps_that_fit_the_audio(
    torch_server: RunningServer,
    whisper,  # noqa: ANN001
) -> None:
    deltas, audio, timed = timed_speech(torch_server.url, TIMED_TEXT)
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
