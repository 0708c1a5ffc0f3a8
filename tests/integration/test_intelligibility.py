"""An independent ear: offline Whisper transcribes what the service said.

Threshold: word error rate ≤ 0.15 per utterance. Whisper base itself gets a few percent WER on
clean read speech; the sentences avoid names and numbers whose spelling is a matter of taste, so
a correct synthesis lands near 0, while dropped or garbled sentences (a lost chunk is a third of
the words here, a broken join mangles the words around it) push WER far past 0.15.
"""

from __future__ import annotations

import pytest

from tests.helpers import decode, resample_to_16k, speech, word_error_rate
from tests.integration.conftest import RunningServer

CASES = [
    # A long first sentence: where chunks are synthesized whole only its first clause is the
    # first chunk, and the join must not show; in windows, the window joins must not.
    (
        "af_heart",
        "mp3",
        "When the storm finally reached the harbour after three long days at sea, the captain "
        "ordered every sail down and sent the whole crew to their stations. Then we waited.",
    ),
    ("af_heart", "mp3", "The weather is nice today. We should go for a walk in the park."),
    ("am_michael", "opus", "Please turn off the lights in the kitchen. Then lock the front door."),
    ("bf_emma", "wav", "Reading a good book is a fine way to spend a quiet evening at home."),
    (
        "af_heart(2)+bm_fable(1)",
        "pcm",
        "Streaming speech starts early. Each sentence is sent on its own. The listener hears "
        "the first words while the rest is still being made.",
    ),
]


def test_word_error_rate_helper() -> None:
    assert word_error_rate("a b c d", "a b c d") == 0.0
    assert word_error_rate("a b c d", "a x c") == 0.5


@pytest.mark.parametrize(("voice", "fmt", "text"), CASES)
def test_whisper_hears_what_was_asked(
    server: RunningServer,
    whisper,
    voice: str,
    fmt: str,
    text: str,  # noqa: ANN001
) -> None:
    response = speech(server, input=text, voice=voice, response_format=fmt)
    assert response.status_code == 200, response.text
    audio = decode(response.content, fmt)
    segments, _ = whisper.transcribe(
        resample_to_16k(audio.samples, audio.sample_rate), language="en", beam_size=1
    )
    heard = " ".join(segment.text for segment in segments)
    assert word_error_rate(text, heard) <= 0.15, heard
