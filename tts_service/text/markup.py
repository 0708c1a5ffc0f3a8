"""Markup removal: Markdown, HTML and SSML tags become the plain text a listener should hear.

Clients often send what a chat model wrote (Markdown) or text copied from a web page; the model
would otherwise spell out ``**``, ``#`` or ``<speak>``. Markdown is parsed with markdown-it-py
(CommonMark): emphasis, heading and quote markers, list bullets and code fences are dropped, a link
or image is read as its text, and each block becomes a paragraph (so it gets a paragraph pause).
Tags known from HTML and SSML are removed with :mod:`html.parser` (the contents of ``script`` and
``style`` too); anything else that looks like a tag (``<name>``) is kept as written.

A subset of SSML is acted on: it becomes marks (:mod:`tts_service.text.marks`) that later stages
act on, with its values read by :mod:`tts_service.text.ssml`: ``<break>`` and the plain-text
``[pause ...]`` form a pause, ``<prosody rate>`` a rate (and the enclosing one back at its end),
``<say-as>`` a say-as, ``<phoneme ph>`` a pronunciation; ``<sub alias>`` is read as its alias.
Streamed text is read sentence by sentence: pass the same ``rates`` list to each call, so a
``<prosody>`` opened in one sentence is closed in a later one.
"""

from __future__ import annotations

import html
from html.parser import HTMLParser

from markdown_it import MarkdownIt
from markdown_it.token import Token

from tts_service.text import marks, ssml

HTML_TAGS = frozenset(
    """a abbr address article aside b bdi bdo big blockquote body br caption center cite code col
    colgroup dd del details dfn div dl dt em figcaption figure font footer h1 h2 h3 h4 h5 h6 head
    header hr html i img ins kbd label li main mark meta nav ol p pre q rp rt ruby s samp section
    small span strike strong sub summary sup table tbody td tfoot th thead time title tr tt u ul
    var wbr""".split()  # noqa: SIM905
)
SSML_TAGS = frozenset(
    """speak break prosody emphasis say-as voice audio phoneme lang w mark paragraph sentence
    amazon:effect amazon:domain amazon:emotion mstts:express-as""".split()  # noqa: SIM905
)
_SILENT_CONTENT = frozenset({"script", "style", "head", "title"})
_PARAGRAPH_TAGS = frozenset(
    """p div br hr li tr h1 h2 h3 h4 h5 h6 blockquote pre table ul ol dl dt dd section article
    header footer paragraph s sentence""".split()  # noqa: SIM905
)


class _TextOfMarkup(HTMLParser):
    """Collects the text of an HTML/SSML document, with marks for the SSML it acts on; unknown
    "tags" stay as they were written."""

    def __init__(self, rates: list[float] | None = None) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._silent = 0
        self._rates = [] if rates is None else rates  # the open <prosody> elements' rates
        self._aliased: list[bool] = []  # each open <sub>: whether its text is replaced
        self._hidden = 0  # open <sub alias>: their text is not read
        self._capture: list[str] | None = None  # the text of an open <say-as> or <phoneme>
        self._capture_depth = 0
        self._capture_mark: tuple[str, str] = ("", "")

    def _emit(self, text: str) -> None:
        if self._silent or self._hidden:
            return
        (self.parts if self._capture is None else self._capture).append(text)

    def _emit_mark(self, mark: str) -> None:
        if self._capture is None:  # the text of a say-as or a phoneme is plain text
            self._emit(mark)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag == "break":
            self._emit_mark(
                marks.pause(ssml.break_seconds(values.get("time"), values.get("strength")))
            )
        elif tag == "prosody":
            self._open_prosody(ssml.prosody_rate(values.get("rate")))
        elif tag == "sub":
            alias = (values.get("alias") or "").strip()
            if alias:
                self._emit(f" {ssml.pause_form(alias)} ")
                self._hidden += 1
            self._aliased.append(bool(alias))
        elif tag in ("say-as", "phoneme"):
            self._open_capture(tag, values)
        elif tag not in HTML_TAGS and tag not in SSML_TAGS and tag not in _SILENT_CONTENT:
            self._emit(self.get_starttag_text() or "")
        elif tag in _SILENT_CONTENT:
            self._silent += 1
        elif tag in _PARAGRAPH_TAGS:
            self._emit("\n\n")
        else:
            self._emit(" " if tag in ("td", "th") else "")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SILENT_CONTENT:
            return  # <script/> has no content to silence
        if tag in ("sub", "say-as", "phoneme", "prosody"):
            return  # an empty element: nothing to read, nothing to change
        self.handle_starttag(tag, attrs)

    def handle_endtag(self, tag: str) -> None:
        if tag == "prosody":
            self._close_prosody()
        elif tag == "sub":
            if self._aliased and self._aliased.pop():
                self._hidden -= 1
        elif tag in ("say-as", "phoneme"):
            self._close_capture()
        elif tag == "break":
            return
        elif tag not in HTML_TAGS and tag not in SSML_TAGS and tag not in _SILENT_CONTENT:
            self._emit(f"</{tag}>")
        elif tag in _SILENT_CONTENT:
            self._silent = max(0, self._silent - 1)
        elif tag in _PARAGRAPH_TAGS:
            self._emit("\n\n")

    def handle_data(self, data: str) -> None:
        self._emit(data if self._capture is not None else ssml.pause_form(data))

    def _open_prosody(self, rate: float | None) -> None:
        current = self._rates[-1] if self._rates else 1.0
        self._rates.append(current if rate is None else rate)
        if self._rates[-1] != current:
            self._emit_mark(marks.rate(self._rates[-1]))

    def _close_prosody(self) -> None:
        # An end with no start (streamed text whose start came in another call) goes back to 1.
        closed = self._rates.pop() if self._rates else None
        restored = self._rates[-1] if self._rates else 1.0
        if closed != restored:
            self._emit_mark(marks.rate(restored))

    def _open_capture(self, tag: str, values: dict[str, str | None]) -> None:
        if self._capture is not None:  # nested: its text is the outer one's
            self._capture_depth += 1
            return
        if tag == "say-as":
            kind = ssml.say_as_kind(values.get("interpret-as"))
            if kind is None:
                return  # a kind we do not know: its text is read as it is
            self._capture_mark = ("say-as", kind)
        else:
            phonemes = ssml.pronunciation(values.get("ph"), values.get("alphabet"))
            if phonemes is None:
                return  # no pronunciation we can use: its text is read as it is
            self._capture_mark = ("phoneme", phonemes)
        self._capture = []
        self._capture_depth = 1

    def _close_capture(self) -> None:
        if self._capture is None:
            return
        self._capture_depth -= 1
        if self._capture_depth > 0:
            return
        text, self._capture = " ".join("".join(self._capture).split()), None
        kind, value = self._capture_mark
        if text:  # what it holds was read as the markup around it allowed (a sub, a script)
            self.parts.append(
                marks.say_as(value, text) if kind == "say-as" else marks.pronounce(text, value)
            )

    def unknown_decl(self, data: str) -> None:  # <![CDATA[...]]>
        if data.startswith("CDATA["):
            self.handle_data(data[len("CDATA[") :])

    def text(self) -> str:
        self.close()
        if self._capture is not None:  # an unclosed say-as or phoneme ends with the text
            self._capture_depth = 1
            self._close_capture()
        return "".join(self.parts)


def _inline_text(children: list[Token], out: _TextOfMarkup) -> None:
    for token in children:
        if token.type in ("text", "code_inline") or token.type == "image":
            out.feed(html.escape(token.content, quote=False))
        elif token.type in ("softbreak", "hardbreak"):
            out.feed("\n")
        elif token.type == "html_inline":
            out.feed(token.content)


def strip_markup(text: str, rates: list[float] | None = None) -> str:
    """The speakable text of ``text``: Markdown and HTML/SSML markup removed, blocks separated by
    blank lines, the SSML subset and the pause form as marks. Plain text comes back with the same
    words. ``rates``: the open ``<prosody>`` rates, carried from one call to the next (streamed
    text; updated in place)."""
    out = _TextOfMarkup(rates)
    for token in MarkdownIt("commonmark").parse(text):
        if token.type == "list_item_open" and token.info:  # keep the number of "2. Second"
            out.feed(f"{token.info}{token.markup} ")
        elif token.type == "inline" and token.children is not None:
            _inline_text(token.children, out)
            out.feed("\n\n")
        elif token.type in ("fence", "code_block"):
            out.feed(html.escape(token.content, quote=False) + "\n\n")
        elif token.type == "html_block":
            out.feed(token.content + "\n\n")
    return out.text().strip()
