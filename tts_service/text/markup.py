"""Markup removal: Markdown, HTML and SSML tags become the plain text a listener should hear.

Clients often send what a chat model wrote (Markdown) or text copied from a web page; the model
would otherwise spell out ``**``, ``#`` or ``<speak>``. Markdown is parsed with markdown-it-py
(CommonMark): emphasis, heading and quote markers, list bullets and code fences are dropped, a link
or image is read as its text, and each block becomes a paragraph (so it gets a paragraph pause).
Tags known from HTML and SSML are removed with :mod:`html.parser` (the contents of ``script`` and
``style`` too); anything else that looks like a tag (``<name>``) is kept as written.
"""

from __future__ import annotations

import html
from html.parser import HTMLParser

from markdown_it import MarkdownIt
from markdown_it.token import Token

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
    header footer paragraph s sentence break""".split()  # noqa: SIM905
)


class _TextOfMarkup(HTMLParser):
    """Collects the text of an HTML/SSML document; unknown "tags" stay as they were written."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._silent = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in HTML_TAGS and tag not in SSML_TAGS and tag not in _SILENT_CONTENT:
            self.parts.append(self.get_starttag_text() or "")
        elif tag in _SILENT_CONTENT:
            self._silent += 1
        elif tag in _PARAGRAPH_TAGS:
            self.parts.append("\n\n")
        else:
            self.parts.append(" " if tag in ("td", "th") else "")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SILENT_CONTENT:
            return  # <script/> has no content to silence
        self.handle_starttag(tag, attrs)

    def handle_endtag(self, tag: str) -> None:
        if tag not in HTML_TAGS and tag not in SSML_TAGS and tag not in _SILENT_CONTENT:
            self.parts.append(f"</{tag}>")
        elif tag in _SILENT_CONTENT:
            self._silent = max(0, self._silent - 1)
        elif tag in _PARAGRAPH_TAGS:
            self.parts.append("\n\n")

    def handle_data(self, data: str) -> None:
        if not self._silent:
            self.parts.append(data)

    def unknown_decl(self, data: str) -> None:  # <![CDATA[...]]>
        if data.startswith("CDATA["):
            self.handle_data(data[len("CDATA[") :])

    def text(self) -> str:
        self.close()
        return "".join(self.parts)


def _inline_text(children: list[Token], out: _TextOfMarkup) -> None:
    for token in children:
        if token.type in ("text", "code_inline") or token.type == "image":
            out.feed(html.escape(token.content, quote=False))
        elif token.type in ("softbreak", "hardbreak"):
            out.feed("\n")
        elif token.type == "html_inline":
            out.feed(token.content)


def strip_markup(text: str) -> str:
    """The speakable text of ``text``: Markdown and HTML/SSML markup removed, blocks separated by
    blank lines. Plain text comes back with the same words."""
    out = _TextOfMarkup()
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
