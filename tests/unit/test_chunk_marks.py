"""Pause and rate marks in the chunk planner (tts_service/chunking.py) and in synthesis: a pause
ends its chunk and is exactly its silence, a rate is the speed each chunk is spoken at."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from tts_service.chunking import Chunk, ChunkPlanner, Pauses
from tts_service.config import Settings
from tts_service.pipeline import AudioChunk, SpeechStream
from tts_service.pipeline.chunk import speech_bounds
from tts_service.synthesis import Synthesizer
from tts_service.text import Sentence, marks, split_sentences
from tts_service.text.markup import strip_markup
from tts_service.text.phonemes import Phonemizer
from tts_service.text.timing import MAX_PAUSE, MAX_SPEED

from .standin import SAMPLE_RATE, CountingPhonemizer, StandInBackend, make_voice_store

PAUSES = Pauses(sentence=0.2, clause=0.1, paragraph=0.45)
LANG = "en-us"


@pytest.fixture(scope="module")
def phonemizer() -> Phonemizer:
    return Phonemizer()


def planner(phonemizer: Phonemizer, **options: object) -> ChunkPlanner:
    settings: dict = {"group_phonemes": 300, "pauses": PAUSES, "growth": 1000.0, **options}
    return ChunkPlanner(phonemizer, LANG, **settings)


def plan(text: str, phonemizer: Phonemizer, **options: object) -> list[Chunk]:
    return list(planner(phonemizer, **options).chunks(split_sentences(strip_markup(text))))


def test_a_pause_ends_its_chunk_and_replaces_the_boundary_pause(phonemizer: Phonemizer) -> None:
    chunks = plan('Hi. The cat sat. <break time="1.5s"/> It was warm. Birds sang.', phonemizer)
    assert [(c.text, c.pause) for c in chunks] == [
        ("Hi.", PAUSES.sentence), ("The cat sat.", 1.5), ("It was warm. Birds sang.", 0.0),
    ]  # fmt: skip


def test_a_pause_inside_a_sentence_cuts_it_there(phonemizer: Phonemizer) -> None:
    chunks = plan("Hi. Count to three, [pause 2s] three.", phonemizer)
    assert [(c.text, c.pause) for c in chunks] == [
        ("Hi.", PAUSES.sentence), ("Count to three,", 2.0), ("three.", 0.0),
    ]  # fmt: skip


def test_a_pause_before_any_speech_is_silence_before_the_first_chunk(
    phonemizer: Phonemizer,
) -> None:
    chunks = plan('<break time="1s"/> Hello there. Bye.', phonemizer)
    assert [(c.text, c.lead) for c in chunks] == [("Hello there.", 1.0), ("Bye.", 0.0)]


def test_pauses_in_a_row_add_up_to_the_bound(phonemizer: Phonemizer) -> None:
    chunks = plan("Hi. One [pause 3s] [pause 4s] two [pause 6s][pause 6s] three.", phonemizer)
    assert [c.pause for c in chunks[1:3]] == [7.0, MAX_PAUSE]


def test_a_rate_is_each_chunks_own_and_no_chunk_spans_a_change(phonemizer: Phonemizer) -> None:
    text = (
        'Hi. The cat sat. <prosody rate="slow">It was warm. Birds sang.</prosody> A dog barked. '
        'The sun <prosody rate="fast">went down</prosody> slowly.'
    )
    chunks = plan(text, phonemizer)
    assert [(c.text, c.rate) for c in chunks] == [
        ("Hi.", 1.0), ("The cat sat.", 1.0), ("It was warm. Birds sang.", 0.75),
        ("A dog barked. The sun", 1.0), ("went down", 1.25), ("slowly.", 1.0),
    ]  # fmt: skip
    # A change of rate inside a sentence is no pause.
    assert [c.pause for c in chunks[3:5]] == [0.0, 0.0]


def test_the_rate_and_a_pause_are_carried_from_one_call_to_the_next(
    phonemizer: Phonemizer,
) -> None:
    """Streamed text: each batch of sentences is a call of the same planner."""
    fed = planner(phonemizer)
    rates: list[float] = []

    def batch(text: str) -> list[Chunk]:
        return list(
            fed.chunks([Sentence(strip_markup(text, rates), split_sentences(text)[0].boundary)])
        )

    first = batch('<prosody rate="slow">Slowly now.')
    second = batch("Still slow.</prosody>")
    third = batch('<break time="1s"/> Normal again.')
    assert [(c.text, c.rate) for c in first + second + third] == [
        ("Slowly now.", 0.75), ("Still slow.", 0.75), ("Normal again.", 1.0),
    ]  # fmt: skip
    # The chunk before the pause already ended with its boundary's pause: only the rest is added.
    assert third[0].lead == pytest.approx(1.0 - second[0].pause)


def test_a_chunk_spoken_slowly_has_fewer_phonemes(phonemizer: Phonemizer) -> None:
    sentence = "The quick brown fox jumps over the lazy dog, then runs far away into the woods. "
    text = sentence * 3 + '<prosody rate="x-slow">' + sentence * 3 + "</prosody>"
    chunks = plan(text, phonemizer, max_phonemes=lambda rate: int(120 * rate))
    assert {c.rate for c in chunks} == {1.0, 0.5}
    for chunk in chunks:
        assert len(chunk.phonemes) <= int(120 * chunk.rate)
    assert max(len(c.phonemes) for c in chunks if c.rate == 0.5) > 40  # still cut, not dropped


# -- synthesis, on the stand-in ------------------------------------------------------------------


def synthesize(
    text: str, speed: float = 1.0, *, timestamps: bool = False, phonemizer: Phonemizer | None = None
) -> tuple[list[AudioChunk], StandInBackend]:
    backend = StandInBackend()
    synth = Synthesizer(backend, phonemizer or CountingPhonemizer(), Settings(warmup=False))
    voice = make_voice_store().resolve("af_heart")

    async def collect(stream: SpeechStream) -> list[AudioChunk]:
        return [chunk async for chunk in stream]

    try:
        stream = synth.stream(strip_markup(text), voice, speed=speed, timestamps=timestamps)
        return asyncio.run(collect(stream)), backend
    finally:
        synth.shutdown()


def edges(tokens: int, speed: float) -> tuple[int, int, int]:
    """The edge silence synthesis keeps before and after the stand-in's tone for ``tokens`` at
    ``speed``, and the length of what it keeps, in samples."""
    raw = StandInBackend().synthesize([0] * tokens, np.zeros(1), speed)
    start, end = speech_bounds(raw, SAMPLE_RATE)
    sound = np.flatnonzero(raw[start:end])
    return int(sound[0]), int(end - start - sound[-1] - 1), end - start


def test_a_break_is_exactly_its_silence_after_its_chunk() -> None:
    chunks, backend = synthesize('Hello there. <break time="1.2s"/> How are you? Fine, thanks.')
    pauses = [1.2, 0.0]  # the second chunk is the rest, grouped
    for chunk, call, pause in zip(chunks, backend.calls, pauses, strict=True):
        _, _, kept = edges(call.tokens, call.speed)
        assert chunk.samples.size == kept + int(pause * SAMPLE_RATE)
        assert not chunk.samples[kept:].any()
    # Between the speech: the kept edges and the break, nothing else.
    audio = np.concatenate([c.samples for c in chunks])
    after = edges(backend.calls[0].tokens, 1.0)[1]
    before = edges(backend.calls[1].tokens, 1.0)[0]
    sound = np.flatnonzero(audio)
    gap = int(np.diff(sound).max()) - 1
    assert gap == after + int(1.2 * SAMPLE_RATE) + before


def test_a_pause_at_the_start_is_silence_before_the_speech() -> None:
    chunks, backend = synthesize("[pause 0.8s] Hello there.")
    lead = edges(backend.calls[0].tokens, 1.0)[0]
    assert int(np.flatnonzero(chunks[0].samples)[0]) == int(0.8 * SAMPLE_RATE) + lead


def test_the_backend_speaks_each_chunk_at_the_requests_speed_times_its_rate() -> None:
    text = (
        'Hi. <prosody rate="slow">Slow words.</prosody> Then <prosody rate="x-fast">fast.</prosody>'
    )
    _, backend = synthesize(text, speed=1.2)
    assert [round(call.speed, 6) for call in backend.calls] == [1.2, 0.9, 1.2, 1.8]
    _, backend = synthesize(text, speed=MAX_SPEED)  # within the model's range
    assert [call.speed for call in backend.calls] == [MAX_SPEED, 3.0, MAX_SPEED, MAX_SPEED]


def test_words_after_a_leading_pause_are_timed_after_it() -> None:
    chunks, _ = synthesize("[pause 1s] Hello there. <break/> Bye now.", timestamps=True)
    words = [(w.word, w.start) for c in chunks for w in c.words]
    assert [w for w, _ in words] == ["Hello", "there.", "Bye", "now."]
    assert words[0][1] >= SAMPLE_RATE  # after the second of silence
    first_sound = int(np.flatnonzero(chunks[0].samples)[0])
    assert abs(words[0][1] - first_sound) < 0.05 * SAMPLE_RATE


def test_no_mark_reaches_the_phonemizer() -> None:
    counting = CountingPhonemizer()
    synthesize(
        'A <break/> b <prosody rate="slow">c</prosody> <say-as interpret-as="date">d</say-as> '
        '<phoneme ph="ə">e</phoneme> [pause] f.',
        phonemizer=counting,
    )
    assert counting.calls
    assert not any(marks.has_marks(text) for text in counting.calls)
