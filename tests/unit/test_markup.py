"""Markup in the input is read as the text it marks up (tts_service/text/markup.py)."""

from __future__ import annotations

import time

import pytest

from tts_service.text import marks
from tts_service.text.markup import strip_markup


@pytest.mark.parametrize(
    ("text", "spoken"),
    [
        ("Hello there. Plain text stays.", "Hello there. Plain text stays."),
        ("One.\nSame paragraph.\n\nNew paragraph.", "One.\nSame paragraph.\n\nNew paragraph."),
        ("# Weather\n\nIt will **rain** _today_.", "Weather\n\nIt will rain today."),
        ("See [the docs](https://x.example) and ![a chart](c.png).", "See the docs and a chart."),
        ("Run `make`:\n\n```sh\nmake test\n```", "Run make:\n\nmake test"),
        ("> Quoted\n\n- one\n- two\n\n---", "Quoted\n\none\n\ntwo"),
        ("1. First\n2. Second", "1. First\n\n2. Second"),
        ("2024. That was a year.", "2024. That was a year."),
        (
            "<speak>Hi <break time='1s'/> <say-as interpret-as='digits'>42</say-as></speak>",
            "Hi " + marks.pause(1) + " " + marks.say_as("characters", "42"),
        ),
        ("<p>Read <a href='https://x.example'>this</a>.</p><script>x()</script>", "Read this."),
        ("<style>p {color: red}</style>Styled.", "Styled."),
        ("<!-- note --><?xml version='1.0'?>Text<![CDATA[ and more]]>", "Text and more"),
        ("Replace <name> with yours; 3 < 5 and 7 > 2.", "Replace <name> with yours; 3 < 5 and 7 > 2."),
        ("AT&amp;T &lt;b&gt; R&D", "AT&T <b> R&D"),
        ("5 * 3 = 15, snake_case_name, #hashtag", "5 * 3 = 15, snake_case_name, #hashtag"),
    ],
    ids=[
        "plain", "paragraphs", "heading-emphasis", "link-image", "code", "quote-list-rule",
        "ordered-list", "year-not-a-list", "ssml", "html-script", "style", "comment-cdata",
        "unknown-tags-kept", "entities", "markdown-lookalikes",
    ],
)  # fmt: skip
def test_markup_is_read_as_its_text(text: str, spoken: str) -> None:
    assert strip_markup(text) == spoken


@pytest.mark.parametrize("mark", ["*a", "[", "<", "`", "![", ">", "<a", "<!--", "[a](", "*_", "&#"])
def test_thousands_of_markup_characters_take_little_time(mark: str) -> None:
    text = (mark * 4096)[:4096]
    started = time.perf_counter()
    strip_markup(text)
    assert time.perf_counter() - started < 1.0
