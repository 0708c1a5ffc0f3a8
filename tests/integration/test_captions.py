"""Captions from the real model behind a real server: an SSE stream with word timestamps and
``captions`` ends with captions that say every word of its deltas, timed as they are, and that
end within the audio that came back; the captions endpoint gives the same cues for those words."""

from __future__ import annotations

import base64

import httpx
import pytest

from tests.helpers import (
    CAPTIONS,
    SPEECH,
    assert_captions_fit,
    decode,
    read_captions,
    sse_events,
)
from tests.integration.conftest import RunningServer
from tts_service.schemas import WordTimestamp

TEXT = (
    "The weather is nice today. We should go for a walk in the park, then read a good book at "
    "home, and maybe call our friends in the evening to ask how their week went. It costs "
    "nothing, after all."
)


@pytest.mark.parametrize("fmt", ["vtt", "srt"])
def test_captions_of_a_stream_match_its_words_and_fit_its_audio(
    server: RunningServer, fmt: str
) -> None:
    body = {
        "input": TEXT, "voice": "af_heart", "response_format": "pcm", "stream_format": "sse",
        "timestamps": True, "captions": fmt,
    }  # fmt: skip
    response = httpx.post(f"{server.url}{SPEECH}", json=body, timeout=120)
    assert response.status_code == 200, response.text
    events = sse_events(response.text)
    deltas = [data for name, data in events if name == "speech.audio.delta"]
    audio = decode(b"".join(base64.b64decode(d["audio"]) for d in deltas), "pcm")
    words = [WordTimestamp(**word) for delta in deltas for word in delta["words"]]
    assert len(deltas) >= 2 and len(words) >= len(TEXT.split())
    name, done = events[-1]
    assert name == "speech.audio.done"

    cues = read_captions(done["captions"], fmt)
    assert len(cues) >= 3  # three sentences
    assert_captions_fit(cues, words)  # every word, in order; first start and last end
    assert cues[-1].end <= audio.duration + 0.0005

    # The web player's path: the same words sent to the endpoint give the same captions.
    again = httpx.post(
        f"{server.url}{CAPTIONS}", json={"words": [w.model_dump() for w in words], "format": fmt}
    )
    assert again.status_code == 200
    assert again.text == done["captions"]
