"""Turns of streamed text: the serving layer for text that arrives while it is spoken (a
language model's reply, token by token), whatever protocol carries it (the WebSocket, Wyoming's
streaming form).

A turn takes text in pieces (``feed``), cuts it into sentences as soon as each one's end is
certain (:mod:`tts_service.text.incremental`) and hands them to its stream's plan, which the
stream synthesizes as one playback timeline, scheduled with every other stream: its first chunk
is a first chunk, later ones are due when the audio before them runs out. A turn is admitted and
takes a stream slot only when it ``begin``\\ s to speak (a protocol may queue a turn behind the
one speaking), and gives it back when its audio ends or it is closed (``clear``).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncGenerator, Callable
from contextlib import aclosing
from dataclasses import replace
from functools import partial

from tts_service import policy
from tts_service.audio import create_encoder
from tts_service.config import Settings
from tts_service.errors import InvalidRequestError
from tts_service.pieces import MIN_HEAD_PHONEMES
from tts_service.pipeline import FedPlan, SpeechStream
from tts_service.pipeline.encoded import EncodedAudio, StreamStats, encoded_audio
from tts_service.schemas import TurnOptions
from tts_service.synthesis import Synthesizer
from tts_service.text.clean import clean_text
from tts_service.text.incremental import Released, SentenceBuffer
from tts_service.text.markup import strip_markup
from tts_service.voices import Voice

TURN_GUESS_CHARS = 400
"""The length admission assumes for a turn whose text is still arriving (a spoken reply of a few
sentences); a turn that has received more counts what it has."""
FIRST_CLAUSE_CHARS = round(MIN_HEAD_PHONEMES / policy.PHONEMES_PER_CHAR)
"""A turn's first sentence, while incomplete, is spoken up to its first clause boundary once that
clause has this many characters: the least a cut first chunk keeps on the HTTP path."""


class BufferFullError(InvalidRequestError):
    """A text piece that would make a turn hold more unsynthesized text than it may."""

    code = "buffer_full"


def spoken_text(text: str, rates: list[float] | None = None) -> str:
    """A sentence of streamed text as it is spoken: cleaned, its markup removed. ``rates``: the
    turn's open ``<prosody>`` rates, carried from sentence to sentence."""
    return strip_markup(clean_text(text), rates)


class Turn:
    """One turn of streamed text: its text so far, its plan, and (once begun) its stream."""

    def __init__(
        self,
        synthesizer: Synthesizer,
        voice: Voice,
        options: TurnOptions,
        *,
        lang: str | None,
        settings: Settings,
        request_id: str = "-",
        cancel_reason: Callable[[], str],
    ) -> None:
        self.synthesizer = synthesizer
        self.voice = voice
        self.options = options
        self.settings = settings
        self.request_id = request_id
        self.cancel_reason = cancel_reason
        self.buffer = SentenceBuffer(
            stall=settings.text_stall,
            max_buffered=settings.max_buffered_text,
            first_clause_chars=FIRST_CLAUSE_CHARS,
        )
        planner = synthesizer.planner(
            voice, speed=options.speed, lang=lang, timestamps=options.timestamps,
            normalize=options.normalize, windows=False,  # whole chunks (see ``begin``)
        )  # fmt: skip
        self.plan = FedPlan(planner, partial(spoken_text, rates=[]))
        self.stream: SpeechStream | None = None
        self.stats: StreamStats | None = None
        self.spoken_until = 0
        """Offset in the turn's text up to which audio has been sent (or handed to the
        protocol to send)."""
        self.closed = False
        self._stall: asyncio.TimerHandle | None = None

    # -- text in -------------------------------------------------------------------------------

    @property
    def ended(self) -> bool:
        return self.plan.ended

    def feed(self, text: str) -> None:
        """Take the next piece of text (on the event loop). Raises BufferFullError, taking
        nothing, when the turn would hold more text not yet synthesized than it may."""
        if self.ended or self.closed or not text:
            return
        waiting = len(self.buffer.buffered) + self.plan.inbox_chars
        limit = self.settings.max_buffered_text
        if waiting + len(text) > limit:
            raise BufferFullError(
                f"The turn holds {waiting} characters not yet spoken; {len(text)} more would "
                f"pass the limit of {limit}. Send them again once more has been spoken.",
                param="text",
            )
        self._push(self.buffer.feed(text, time.monotonic()))
        self._hurry()
        self._arm_stall()

    def flush(self) -> None:
        """Speak what is buffered now, though its sentence has not ended."""
        if not self.ended and not self.closed:
            self._push(self.buffer.flush())

    def end(self) -> None:
        """No more text: what is buffered is spoken, then the turn's audio ends."""
        if self.ended or self.closed:
            return
        self._push(self.buffer.flush())
        self.plan.end()
        self._disarm_stall()

    def _push(self, released: list[Released]) -> None:
        self.plan.push(replace(r.sentence, end=r.end) for r in released)
        self.plan.waiting_chars = len(self.buffer.buffered)

    def _hurry(self) -> None:
        """Speak the unfinished sentence up to its last clause now if the stream waits for text
        and its audio would run out before that clause could be synthesized (``policy.hurries``):
        a long sentence written slowly is heard in parts, not after a silence."""
        stream = self.stream
        if stream is None or not self.plan.starved:
            return
        playback = stream.playback
        if playback.start is None:  # the first chunk: the first-clause rule's
            return
        end = self.buffer.last_clause(FIRST_CLAUSE_CHARS)
        if end is None:
            return
        audio_left = playback.start + playback.delivered_seconds - time.monotonic()
        phonemes = end * policy.PHONEMES_PER_CHAR
        guess = phonemes * self.synthesizer.scheduler.seconds_per_phoneme
        if policy.hurries(audio_left, guess):
            self._push(self.buffer.release_to(end))

    def _arm_stall(self) -> None:
        self._disarm_stall()
        deadline = self.buffer.stall_deadline()
        if deadline is not None:
            delay = max(0.0, deadline - time.monotonic())
            self._stall = asyncio.get_running_loop().call_later(delay, self._stalled)

    def _disarm_stall(self) -> None:
        if self._stall is not None:
            self._stall.cancel()
            self._stall = None

    def _stalled(self) -> None:
        self._stall = None
        if not self.ended and not self.closed:
            self._push(self.buffer.release_stalled(time.monotonic()))
            self._arm_stall()

    # -- audio out -----------------------------------------------------------------------------

    @property
    def text(self) -> str:
        """All the text the turn has received."""
        return self.buffer.text

    def begin(self) -> None:
        """Admit the turn and open its stream (raises OverloadedError when the server is busy).
        No await: nothing is admitted between the check and the opening."""
        synthesizer = self.synthesizer
        chars = max(TURN_GUESS_CHARS, len(self.text))
        synthesizer.check_capacity(chars, speed=self.options.speed)
        self.stats = StreamStats(
            self.request_id, 0, self.voice.spec, self.options.response_format,
            time.perf_counter(), synthesizer.metrics, self.cancel_reason,
        )  # fmt: skip
        # Whole chunks: a turn's text counts as spoken chunk by chunk (``spoken_until``, what a
        # barge-in keeps), and a chunk rendered in windows would count only at its last piece.
        self.stream = synthesizer.open_stream(
            self.plan, self.voice, speed=self.options.speed,
            timestamps=self.options.timestamps, request_id=self.request_id, windows=False,
        )  # fmt: skip

    async def audio(self) -> AsyncGenerator[EncodedAudio, None]:
        """The turn's audio, encoded, as each chunk is synthesized (``begin`` first). Items say
        where the text they complete ends; ``spoken_until`` follows them as they are taken."""
        stream, stats = self.stream, self.stats
        if stream is None or stats is None:
            raise RuntimeError("Turn.audio() before begin()")
        encoder = create_encoder(self.options.response_format, self.synthesizer.sample_rate)
        try:
            first = await stream.next_chunk()
        except BaseException as exc:
            stream.close()
            encoder.close()
            cut = self.closed or isinstance(exc, asyncio.CancelledError)
            stats.finish("cancelled" if cut else "failed")
            raise
        async with aclosing(encoded_audio(stream, first, encoder, stats)) as items:
            async for item in items:
                stats.chars = len(self.text)
                if item.text_end is not None:
                    self.spoken_until = max(self.spoken_until, item.text_end)
                yield item
        self.spoken_until = len(self.text)  # all of it, its trailing spaces too

    def close(self) -> None:
        """Stop: nothing more is planned or synthesized (a running chunk finishes)."""
        self.closed = True
        self._disarm_stall()
        self.plan.close()
        if self.stream is not None:
            self.stream.close()
