"""Word timestamps from the model's predicted durations.

Kokoro predicts how many frames each phoneme token lasts, and one frame is 600 samples of the
24 kHz output (``hexgrad/kokoro``'s ``KPipeline.join_timestamps`` uses the same unit): the audio of
token ``i`` is exactly samples ``600 × Σ durations[:i]`` up to ``600 × Σ durations[:i + 1]``,
the two boundary pads included. A word runs from the start of its first sounding phoneme to the
end of its last one, so the space and punctuation between words (a comma's pause) belong to
neither: captions go blank where the speech does.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tts_service.backends import SAMPLES_PER_FRAME
from tts_service.text.phonemes import is_sounding
from tts_service.text.words import SpokenWord


@dataclass(frozen=True)
class WordSpan:
    """A word's audio, in samples from the start of the chunk's (trimmed) audio."""

    word: str
    start: int
    end: int


def word_spans(
    phonemes: str,
    words: tuple[SpokenWord, ...],
    durations: np.ndarray,
    trim_start: int,
    length: int,
) -> list[WordSpan]:
    """Where each of ``words`` is in a chunk's audio.

    ``phonemes`` is the chunk's phoneme string, one model token per character; ``durations``
    the predicted frames of each token with the leading and trailing pad (``len(phonemes) + 2``
    values); the chunk's audio was cut to samples ``trim_start`` … ``trim_start + length`` of the
    model's output. Times that fall in the cut-off silence are clamped to the kept audio.
    """
    if len(durations) != len(phonemes) + 2:
        raise ValueError(f"{len(durations)} durations for {len(phonemes)} tokens and 2 pads")
    # edges[i] is where character i of the phoneme string starts, edges[i + 1] where it ends.
    edges = np.cumsum(np.asarray(durations, dtype=np.int64))[:-1] * SAMPLES_PER_FRAME
    sounds = [i for i, phoneme in enumerate(phonemes) if is_sounding(phoneme)]

    def at(sample: int) -> int:
        return int(min(max(sample - trim_start, 0), length))

    spans = []
    for word in words:
        if word.end > word.start:
            start, end = edges[sounds[word.start]], edges[sounds[word.end - 1] + 1]
        else:  # merged into its neighbours when spoken: no time of its own
            start = end = edges[sounds[word.start - 1] + 1] if word.start else edges[sounds[0]]
        spans.append(WordSpan(word.text, at(start), at(end)))
    return spans
