"""One chunk below the chunk: its text stage (``prepare_chunk``), the windows its audio is
rendered in (``render_window``, each a scheduler task of its own), and the pieces the stream
sends as each window is rendered (``ChunkAssembly``).

Where the backend is windowed (its model split into a text and a waveform stage) and windows are
on (``TTS_WINDOWS``), a stream's first chunk is rendered in growing windows
(``tts_service.windows``): the first one spans the leading pad and ``first`` frames of speech, so
first audio leaves after it. A later chunk is rendered in windows of ``shared`` frames while other
streams are open, so their urgent work runs between its windows, and whole while its stream is
alone (``chunk_windows``). Otherwise (today's path) the whole chunk is synthesized at once and is
one window.

What the whole chunk's synthesis did still holds for the joined windows:

- edge silence is trimmed as before (``speech_bounds``, an amplitude threshold) and faded at the
  cuts: the head in the first window (its threshold relative to that window's peak), the tail in
  the last (where the whole chunk's trim cuts it: the chunk's audio is all there by then). The durations' pads cannot place the cuts: measured on the int8 model, speech
  starts 0.4–0.9 of the way through the leading pad, and ends up to 17 frames before or 15 after
  the last sounding token's predicted end. So the first window includes the whole leading pad
  (the waveform stage's context reaches back to frame 0 anyway: it costs nothing more) and the
  last window runs to the chunk's end;
- the silence of a leading pause mark (``lead``) comes before the first piece, the pause after
  the chunk after the last;
- word spans come from the durations (known after the text stage) and the head's cut (known
  after the first window); each piece carries the words that end within it;
- loudness (for the stream's gain, ``tts_service.audio.loudness.Leveller``) is measured on the
  first piece: the gain of a chunk is set when its first audio leaves, before the rest exists. A
  chunk of one window is measured whole, as before.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from tts_service import policy
from tts_service.audio.fades import fade_in, fade_out
from tts_service.audio.loudness import integrated_loudness
from tts_service.backends import (
    FIRST_WINDOW_CONTEXT_FRAMES,
    SAMPLE_RATE,
    SAMPLES_PER_FRAME,
    WINDOW_CONTEXT_FRAMES,
    Prepared,
)
from tts_service.chunking import Chunk
from tts_service.pipeline.chunk import AudioChunk, Voicing, speech_bounds
from tts_service.text.timing import spoken_speed
from tts_service.timestamps import WordSpan, word_spans
from tts_service.windows import Joiner, Window, plan_windows


@dataclass(frozen=True)
class PreparedChunk:
    """A chunk after the model's text stage: what its windows render."""

    chunk: Chunk
    tokens: int
    prepared: Prepared
    windows: tuple[Window, ...]
    rendered: tuple[np.ndarray, ...] = field(default=())
    """The windows' audio when the text stage made it already (today's path: one window, the
    whole chunk); empty: ``render_window`` runs the waveform stage."""

    @property
    def seconds(self) -> float:
        """The chunk's audio before its edge silence is trimmed (an upper bound)."""
        return self.prepared.frames * SAMPLES_PER_FRAME / SAMPLE_RATE


def chunk_windows(
    prepared: Prepared, voicing: Voicing, first_in_stream: bool = True, shared: bool = False
) -> tuple[Window, ...]:
    """The windows of a prepared chunk. A stream's first chunk: the first window spans its
    leading pad and ``first`` frames of speech, each later one ``growth`` times the one before,
    at most ``largest`` (``policy.renders_in_windows``). A later chunk while other streams are
    open (``shared``): windows of ``shared`` frames, so the scheduler can run other streams'
    work between them (``policy.later_in_windows``). Otherwise one window of the whole chunk."""
    sizes = voicing.windows
    whole = (Window(0, prepared.frames, prepared.frames),)
    if sizes is None:
        return whole
    head = int(prepared.durations[0]) if prepared.durations is not None else 0
    head = min(head, prepared.frames)
    first_window = head + sizes.first + FIRST_WINDOW_CONTEXT_FRAMES
    if policy.renders_in_windows(first_in_stream, prepared.frames, first_window):
        first, growth, largest = sizes.first, sizes.growth, sizes.largest
        first_context = FIRST_WINDOW_CONTEXT_FRAMES
    elif not first_in_stream and policy.later_in_windows(
        shared, prepared.frames - head, sizes.shared
    ):
        first, growth, largest = sizes.shared, 1.0, sizes.shared
        first_context = WINDOW_CONTEXT_FRAMES  # nobody waits for it in silence
    else:
        return whole
    planned = plan_windows(
        prepared.frames - head, first, growth, largest, sizes.overlap, first_context
    )
    windows = [replace(w, start=w.start + head, end=w.end + head,
                       render_end=w.render_end + head) for w in planned]  # fmt: skip
    if not windows:
        return whole
    windows[0] = replace(windows[0], start=0)
    return tuple(windows)


def prepare_chunk(
    chunk: Chunk, voicing: Voicing, shared: bool = False, listening: bool = True
) -> PreparedChunk:
    """The text stage of ``chunk`` (blocking: run it on a worker thread); on today's path (a
    backend without the split, or windows off) the whole chunk's synthesis. ``shared``: other
    streams are open; ``listening``: someone hears the first audio as it comes (a whole file
    is made for its end: its first chunk is rendered as a later one) (see ``chunk_windows``)."""
    tokens = voicing.phonemizer.tokenize(chunk.phonemes)
    style = voicing.voice.style_for(len(tokens))
    backend = voicing.backend
    speed = spoken_speed(voicing.speed, chunk.rate)
    if voicing.windowed:
        prepared = backend.prepare(tokens, style, speed)
        windows = chunk_windows(prepared, voicing, listening and chunk.index == 0, shared)
        return PreparedChunk(chunk, len(tokens), prepared, windows)
    durations = None
    if voicing.timestamps:
        audio, durations = backend.synthesize_with_durations(tokens, style, speed)
    else:
        audio = backend.synthesize(tokens, style, speed)
    frames = -(-audio.size // SAMPLES_PER_FRAME)
    window = Window(0, frames, frames)
    return PreparedChunk(chunk, len(tokens), Prepared(frames, durations, None), (window,), (audio,))


def render_window(prepared: PreparedChunk, voicing: Voicing, n: int) -> np.ndarray:
    """Window ``n``'s audio (blocking: run it on a worker thread)."""
    if prepared.rendered:
        return prepared.rendered[n]
    window = prepared.windows[n]
    return voicing.backend.render(
        prepared.prepared, window.start, window.render_end, window.context
    )


class ChunkAssembly:
    """A prepared chunk's rendered windows, added in order, as the pieces a stream sends: each
    piece is an ``AudioChunk`` of the samples now final (see the module's docstring); the first
    carries the chunk's tokens and loudness, the last (``last``) its pause and where its text
    ends."""

    def __init__(self, prepared: PreparedChunk, voicing: Voicing) -> None:
        self.prepared = prepared
        self.voicing = voicing
        self._joiner = Joiner()
        self._next = 0
        self._sent = 0
        """Samples of the chunk's pieces so far (its lead included)."""
        self._spans: list[WordSpan] = []
        self._bodies: list[np.ndarray] = []
        """The joined windows before the last, untrimmed (the tail's cut needs them)."""
        self._joined = 0

    @property
    def done(self) -> bool:
        return self._next == len(self.prepared.windows)

    def add(self, audio: np.ndarray) -> AudioChunk:
        """The next window's ``audio`` → the next piece."""
        prepared, voicing = self.prepared, self.voicing
        chunk, sample_rate = prepared.chunk, voicing.sample_rate
        n = self._next
        self._next += 1
        first, last = n == 0, self._next == len(prepared.windows)
        body = self._joiner.add(prepared.windows[n], audio)
        at = self._joined
        self._joined += body.size
        if not last:
            self._bodies.append(body)
        if first:
            start, end = speech_bounds(body, sample_rate)
            body = body[start : end if last else body.size]
        elif last:  # the tail is cut where the whole chunk's would be: the chunk's audio is there
            _, end = speech_bounds(np.concatenate([*self._bodies, body]), sample_rate)
            body = body[: max(0, end - at)]
        fade = int(voicing.fade * sample_rate)
        if first and last:
            fade = min(fade, body.size // 2)
        loudness = None
        lead = int(chunk.lead * sample_rate) if first else 0
        if first:
            body = fade_in(body, min(fade, body.size))
            durations = prepared.prepared.durations
            if voicing.timestamps and durations is not None:
                # The chunk's end is not known yet: spans are clamped to it with the last piece.
                bound = prepared.prepared.frames * SAMPLES_PER_FRAME
                spans = word_spans(chunk.phonemes, chunk.words, durations, start, bound)
                self._spans = [WordSpan(s.word, s.start + lead, s.end + lead) for s in spans]
        if last:
            body = fade_out(body, min(fade, body.size))
        if first and voicing.measure_loudness:
            loudness = integrated_loudness(body, sample_rate)
        if lead:
            body = np.concatenate([np.zeros(lead, dtype=np.float32), body])
        start_at, self._sent = self._sent, self._sent + body.size
        words = self._words(start_at, last)
        if last and chunk.pause:
            silence = np.zeros(int(chunk.pause * sample_rate), dtype=np.float32)
            body = np.concatenate([body, silence])
        return AudioChunk(
            chunk.index, body, prepared.tokens if first else 0, words,
            chunk.end if last else None, loudness, last=last,
        )  # fmt: skip

    def _words(self, start_at: int, last: bool) -> tuple[WordSpan, ...]:
        """The words that end in the piece from ``start_at`` to ``self._sent`` (every one left,
        clamped to the chunk's audio, with the last piece), from the piece's start."""
        end = self._sent
        taken = [s for s in self._spans if last or s.end <= end]
        self._spans = [] if last else [s for s in self._spans if s.end > end]
        return tuple(
            WordSpan(s.word, min(s.start, end) - start_at, min(s.end, end) - start_at)
            for s in taken
        )


def synthesize_chunk(chunk: Chunk, voicing: Voicing) -> AudioChunk:
    """Synthesize ``chunk`` whole, its windows one after another (blocking: run it on a worker
    thread; for benchmarks and tests: the stream schedules each window as a task)."""
    prepared = prepare_chunk(chunk, voicing)
    assembly = ChunkAssembly(prepared, voicing)
    pieces = [
        assembly.add(render_window(prepared, voicing, n)) for n in range(len(prepared.windows))
    ]
    words: list[WordSpan] = []
    offset = 0
    for piece in pieces:
        words += [WordSpan(w.word, w.start + offset, w.end + offset) for w in piece.words]
        offset += piece.samples.size
    return AudioChunk(
        chunk.index, np.concatenate([p.samples for p in pieces]), prepared.tokens, tuple(words),
        chunk.end, pieces[0].loudness,
    )  # fmt: skip
