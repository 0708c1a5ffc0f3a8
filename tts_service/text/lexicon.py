"""The user's lexicon: how to say particular words, one file per language, applied before G2P.

``TTS_LEXICON_DIR`` holds ``<lang>.txt``, ``<lang>.tsv`` or ``<lang>.json`` files, where ``<lang>``
is a voice language (``en-us``, ``en-gb``, ``fr-fr``, ``cmn``, …) or its part before the dash
(``en``: both Englishes; the exact language wins). A ``.txt`` / ``.tsv`` line is a word, then
whitespace (a tab or spaces), then how to say it; ``#`` starts a comment line. A ``.json`` file
is one object ``{"word": "how to say it"}``. How to say it is either

- phonemes between slashes, in Kokoro's phoneme set: ``Kokoro  /kˈOkəɹO/`` (symbols outside the
  model's vocabulary are dropped), or
- a respelling, plain words the G2P reads instead: ``nginx  engine x``.

Case: an entry written all in lower case matches the word in any case (``kokoro`` matches
``Kokoro`` and ``KOKORO``); an entry with a capital matches only that spelling (``US`` is not
``us``). Words are whole whitespace words with any punctuation around them set aside
(``Kokoro,`` and ``"Kokoro"`` match ``Kokoro``).

Files are re-read when they change (their modification time, checked at most every
``check_every`` seconds), so edits need no restart. A file that cannot be read or parsed logs an
error and the last good version of that language's lexicon stays in use.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path

logger = logging.getLogger(__name__)

SUFFIXES = (".txt", ".tsv", ".json")


@dataclass(frozen=True)
class Entry:
    phonemes: str | None = None
    """Phonemes to say, or None for a respelling."""
    respelling: str = ""


class LexiconError(ValueError):
    """A lexicon file that cannot be used."""


def parse_entry(value: str) -> Entry:
    value = value.strip()
    phonemes = value[1:-1].strip() if len(value) >= 2 and value[0] == value[-1] == "/" else None
    if not value or phonemes == "":
        raise LexiconError("an entry says nothing")
    if phonemes is not None:
        return Entry(phonemes=phonemes)
    return Entry(respelling=" ".join(value.split()))


def parse_file(path: Path) -> dict[str, Entry]:
    """A lexicon file's entries; LexiconError (with the line) when it is malformed."""
    text = path.read_text(encoding="utf-8")
    if path.suffix == ".json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise LexiconError(str(exc)) from exc
        if not isinstance(data, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in data.items()
        ):
            raise LexiconError('expected one object of strings: {"word": "how to say it"}')
        pairs = [(k, v, f"entry {k!r}") for k, v in data.items()]
    else:
        pairs = []
        for number, line in enumerate(text.splitlines(), 1):
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            fields = line.strip().split(None, 1)
            if len(fields) != 2:
                raise LexiconError(f"line {number}: expected a word, whitespace, how to say it")
            pairs.append((fields[0], fields[1], f"line {number}"))
    entries: dict[str, Entry] = {}
    for word, value, where in pairs:
        if not word.strip() or len(word.split()) != 1:
            raise LexiconError(f"{where}: the word must be one word without spaces")
        try:
            entries[word.strip()] = parse_entry(value)
        except LexiconError as exc:
            raise LexiconError(f"{where}: {exc}") from exc
    return entries


@dataclass
class _Loaded:
    entries: dict[str, Entry]
    lowered: dict[str, Entry]
    stamps: tuple[tuple[str, int, int], ...]
    checked: float


class Lexicon:
    """Entries by language from ``directory`` (None: no lexicon), reloaded when files change.
    Thread-safe: lookups read an immutable snapshot; one thread at a time reloads."""

    def __init__(self, directory: Path | None, *, check_every: float = 1.0) -> None:
        self.directory = directory
        self.check_every = check_every
        self._loaded: dict[str, _Loaded] = {}
        self._lock = threading.Lock()

    def lookup(self, word: str, lang: str) -> Entry | None:
        """How the user says ``word`` (a bare word, no punctuation) in ``lang``, if they do."""
        if self.directory is None:
            return None
        loaded = self._current(self.directory, lang)
        entry = loaded.entries.get(word)
        if entry is None:
            entry = loaded.lowered.get(word.lower())
        return entry

    def is_empty(self, lang: str) -> bool:
        return self.directory is None or not self._current(self.directory, lang).entries

    def _files(self, directory: Path, lang: str) -> list[Path]:
        """The language's files, general first (``en``), so the exact language's entries win."""
        names = [lang.split("-")[0], lang] if "-" in lang else [lang]
        return [
            directory / f"{name}{suffix}"
            for name in names
            for suffix in SUFFIXES
            if (directory / f"{name}{suffix}").is_file()
        ]

    def _current(self, directory: Path, lang: str) -> _Loaded:
        loaded = self._loaded.get(lang)
        now = time.monotonic()
        if loaded is not None and now - loaded.checked < self.check_every:
            return loaded
        with self._lock:
            loaded = self._loaded.get(lang)
            if loaded is not None and now - loaded.checked < self.check_every:
                return loaded
            files = self._files(directory, lang)
            stamps = tuple((str(f), *_stamp(f)) for f in files)
            if loaded is not None and stamps == loaded.stamps:
                loaded.checked = now
                return loaded
            loaded = self._read(lang, files, stamps, loaded, now)
            self._loaded[lang] = loaded
            return loaded

    def _read(
        self, lang: str, files: list[Path], stamps: tuple[tuple[str, int, int], ...],
        last: _Loaded | None, now: float,
    ) -> _Loaded:  # fmt: skip
        entries: dict[str, Entry] = {}
        for path in files:
            try:
                entries.update(parse_file(path))
            except (OSError, UnicodeDecodeError, LexiconError) as exc:
                logger.error(
                    "Lexicon %s not loaded (%s); %s", path, exc,
                    "keeping the last good lexicon" if last else "no lexicon for " + lang,
                )  # fmt: skip
                # Not re-read (nor logged again) until a file changes.
                if last is None:
                    return _Loaded({}, {}, stamps, now)
                return _Loaded(last.entries, last.lowered, stamps, now)
        lowered = {word: entry for word, entry in entries.items() if word == word.lower()}
        if entries:
            logger.info("Lexicon for %s: %d entries from %s", lang, len(entries), ", ".join(
                p.name for p in files))  # fmt: skip
        return _Loaded(entries, lowered, stamps, now)


def _stamp(path: Path) -> tuple[int, int]:
    try:
        stat = os.stat(path)
    except OSError:
        return (-1, -1)
    return (stat.st_mtime_ns, stat.st_size)
