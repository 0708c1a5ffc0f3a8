"""A simulated language model: a fixed reply cut into tokens of about four characters, written at a
steady rate on the monotonic clock, and the sentence splitter voice-agent frameworks put between
such a model and a speech server (a sentence ends at ``.``, ``!`` or ``?`` followed by a space)."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator, Iterable, Iterator
from pathlib import Path

REPLIES = Path(__file__).parent / "texts" / "replies.txt"
TOKEN_CHARS = 4
_WORD = re.compile(r"\s*\S+")
_SENTENCE_END = re.compile(r"[.!?]\s")


def replies(path: Path = REPLIES) -> list[str]:
    """The replies of a text file, one per paragraph (paragraphs are separated by blank lines)."""
    paragraphs = re.split(r"\n\s*\n", path.read_text())
    return [" ".join(p.split()) for p in paragraphs if p.strip()]


def tokens(text: str, size: int = TOKEN_CHARS) -> list[str]:
    """``text`` cut as a tokenizer would, roughly: each word with the space before it, in pieces of
    at most ``size`` characters (" botanical" → " bot", "anic", "al"). Joined, they give ``text``."""
    pieces = []
    for word in _WORD.findall(text):
        pieces += [word[i : i + size] for i in range(0, len(word), size)]
    return pieces


def sentences(text: str) -> Iterator[str]:
    """The sentences the splitter would send for ``text`` arriving whole (see ``SentenceSplitter``)."""
    splitter = SentenceSplitter()
    yield from splitter.feed(text)
    yield from splitter.flush()


class SentenceSplitter:
    """What pipecat's and LiveKit's simple aggregators do: buffer the model's text and hand out a
    sentence once ``.``, ``!`` or ``?`` is followed by whitespace ("Dr. Patel" is cut after "Dr.",
    "14.50" is not), and the rest when the reply ends."""

    def __init__(self) -> None:
        self.buffer = ""

    def feed(self, text: str) -> Iterator[str]:
        self.buffer += text
        while match := _SENTENCE_END.search(self.buffer):
            sentence, self.buffer = self.buffer[: match.start() + 1], self.buffer[match.end() :]
            if sentence.strip():
                yield sentence.strip()

    def flush(self) -> Iterator[str]:
        sentence, self.buffer = self.buffer.strip(), ""
        if sentence:
            yield sentence


def first_sentence_token(pieces: Iterable[str]) -> int:
    """The index of the token after which the first sentence is known to be complete: the one that
    brings the text after its punctuation (or the last token, for a one-sentence reply)."""
    splitter = SentenceSplitter()
    index = -1
    for index, piece in enumerate(pieces):
        if next(splitter.feed(piece), None) is not None:
            return index
    return index


async def emit(pieces: list[str], rate: float, t0: float) -> AsyncIterator[tuple[float, str]]:
    """Yield each token at ``t0 + i / rate`` (``time.monotonic`` seconds), with the time it was
    actually handed out, relative to ``t0``. The schedule is absolute: a late token does not delay
    the ones after it."""
    for i, piece in enumerate(pieces):
        delay = t0 + i / rate - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        yield time.monotonic() - t0, piece
