"""The one table of malformed speech requests and one of odd but valid ones, run in-process against
the stand-in backend (tests/unit/test_bad_input.py) and against a real server with the real model
(tests/integration/test_bad_input.py); and one of bytes that are not HTTP the server can parse,
sent over a socket to a real server (tests/integration/test_connections.py); and one of malformed
streamed-text WebSocket messages.

Every bad request must get a 4xx in OpenAI's error shape, never a 500 or a hang; every odd but
valid one must be spoken.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx

from tests.helpers import CAPTIONS, GOOD, SPEECH, assert_openai_error

MAX_INPUT_CHARS = 4096  # Settings().max_input_chars
MAX_REQUEST_BYTES = 1_048_576  # Settings().max_request_bytes


@dataclass(frozen=True)
class Bad:
    """A request and the error it must get; ``param``/``code`` None means "not checked"."""

    id: str
    body: dict[str, Any] | bytes | None = None
    status: int = 400
    param: str | None = None
    code: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    chunked: bool = False
    """Send the body without Content-Length (chunked transfer encoding)."""
    path: str = SPEECH

    def assert_rejected(self, response: httpx.Response) -> dict[str, Any]:
        """``response`` is this case's status with OpenAI's error body, an X-Request-Id, type
        ``invalid_request_error`` and this case's ``param`` and ``code`` where given."""
        return assert_openai_error(
            response,
            self.status,
            error_type="invalid_request_error",
            param=self.param,
            code=self.code,
        )


def _with(**fields: Any) -> dict[str, Any]:
    return {**GOOD, **fields}


def _without(key: str) -> dict[str, Any]:
    return {k: v for k, v in GOOD.items() if k != key}


def _raw(text: str) -> bytes:
    return text.encode()


BIG_JSON = json.dumps(_with(padding="x" * (MAX_REQUEST_BYTES + 1))).encode()

BAD_REQUESTS = [
    # The body as a whole.
    Bad("empty-body", b""),
    Bad("not-json", b"{not json", code="invalid_json"),
    Bad("truncated-json", b'{"input": "Hello', code="invalid_json"),
    Bad("trailing-garbage", b'{"input": "Hello"} x', code="invalid_json"),
    Bad("body-is-an-array", b'["Hello."]'),
    Bad("body-is-a-string", b'"Hello."'),
    Bad("body-is-null", b"null"),
    Bad("body-is-a-number", b"42"),
    Bad("invalid-utf8", b'{"input": "Hello \xff\xfe there"}', code="invalid_json"),
    Bad("latin1-body", '{"input": "Caf\xe9 au lait."}'.encode("latin-1"), code="invalid_json"),
    Bad("deeply-nested", _raw('{"input": "Hi", "x": ' + "[" * 100_000 + "]" * 100_000 + "}")),
    Bad("huge-integer", _raw('{"input": "Hi", "speed": 1' + "0" * 5000 + "}"), code="invalid_json"),
    Bad(
        "form-encoded",
        b"input=Hello",
        headers={"content-type": "application/x-www-form-urlencoded"},
    ),
    Bad("too-large", BIG_JSON, status=413, code="request_too_large"),
    Bad("too-large-chunked", BIG_JSON, status=413, code="request_too_large", chunked=True),
    # input
    Bad("input-missing", _without("input"), param="input"),
    Bad("input-empty", _with(input=""), param="input"),
    Bad("input-null", _with(input=None), param="input"),
    Bad("input-number", _with(input=123), param="input"),
    Bad("input-bool", _with(input=True), param="input"),
    Bad("input-list", _with(input=["Hello."]), param="input"),
    Bad("input-object", _with(input={"text": "Hello."}), param="input"),
    Bad("input-whitespace", _with(input=" \n\t\r\n "), param="input", code="empty_input"),
    Bad("input-control-chars", _with(input="\x00\x07\x1b\x7f"), param="input", code="empty_input"),
    Bad("input-lone-surrogate", _raw('{"input": "Hello \\ud800 there"}'), param="input"),
    Bad("input-one-word-100kb", _with(input="a" * 100_000), param="input", code="input_too_long"),
    Bad(
        "input-one-over-the-limit",
        _with(input="Hi. " * 1024 + "!"),
        param="input",
        code="input_too_long",
    ),
    Bad(
        "input-thousands-of-marks",
        _with(input="?!.,;:-" * 580),
        param="input",
        code="no_speakable_text",
    ),
    Bad("input-ellipses", _with(input="…" * 4000), param="input", code="no_speakable_text"),
    Bad(
        "input-zero-width-only",
        _with(input="\u200b\u200c\u200d\ufeff"),
        param="input",
        code="no_speakable_text",
    ),
    Bad(
        "input-only-markup",
        _with(input="<p></p><br/><hr>"),
        param="input",
        code="no_speakable_text",
    ),
    Bad(
        "input-only-breaks",
        _with(input='<speak><break time="2s"/> [pause 1s] <prosody rate="slow"></prosody></speak>'),
        param="input",
        code="no_speakable_text",
    ),
    Bad(
        "input-only-script",
        _with(input="<script>alert('hi')</script>"),
        param="input",
        code="no_speakable_text",
    ),
    Bad("input-only-code-fence", _with(input="```\n```"), param="input", code="no_speakable_text"),
    Bad(
        "input-only-punctuation", _with(input="?!... ...!"), param="input", code="no_speakable_text"
    ),
    Bad("input-emoji-in-japanese", _with(input="🙂🙂🙂", lang_code="ja"), param="input"),
    # voice
    Bad(
        "voice-path-traversal",
        _with(voice="../../etc/passwd"),
        param="voice",
        code="voice_not_found",
    ),
    Bad("voice-absolute-path", _with(voice="/etc/passwd"), param="voice", code="voice_not_found"),
    Bad("voice-file-name", _with(voice="af_heart.pt"), param="voice", code="voice_not_found"),
    Bad("voice-unknown", _with(voice="nosuchvoice"), param="voice", code="voice_not_found"),
    Bad("voice-empty", _with(voice=""), param="voice"),
    Bad("voice-blend-huge-weight", _with(voice="af_heart(999999)+"), param="voice"),
    Bad("voice-blend-weight-1e300", _with(voice="af_heart(1e300)"), param="voice"),
    Bad("voice-blend-weights-1e38", _with(voice="af_heart(1e38)+af_bella(1e38)"), param="voice"),
    Bad("voice-blend-only-plus", _with(voice="+"), param="voice", code="voice_not_found"),
    Bad(
        "voice-blend-trailing-plus",
        _with(voice="af_heart(2)+"),
        param="voice",
        code="voice_not_found",
    ),
    Bad("voice-blend-empty-part", _with(voice="af_heart++af_bella"), param="voice"),
    Bad("voice-blend-negative", _with(voice="af_heart(-1)+af_bella"), param="voice"),
    Bad("voice-blend-zero", _with(voice="af_heart(0)"), param="voice"),
    Bad("voice-blend-nan", _with(voice="af_heart(nan)+af_bella"), param="voice"),
    Bad("voice-blend-inf", _with(voice="af_heart(inf)"), param="voice"),
    Bad("voice-blend-empty-weight", _with(voice="af_heart()"), param="voice"),
    Bad("voice-blend-two-weights", _with(voice="af_heart(1)(2)"), param="voice"),
    Bad("voice-blend-nine-parts", _with(voice="+".join(["af_heart"] * 9)), param="voice"),
    Bad("voice-too-long", _with(voice="af_heart+" * 40), param="voice"),
    Bad("voice-nul", _with(voice="af_heart\x00"), param="voice"),
    Bad("voice-number", _with(voice=5), param="voice"),
    Bad("voice-list", _with(voice=["af_heart"]), param="voice"),
    Bad("voice-object-without-id", _with(voice={}), param="voice"),
    Bad("voice-object-empty-id", _with(voice={"id": ""})),
    Bad("voice-object-nested", _with(voice={"id": {"id": "af_heart"}}), param="voice"),
    Bad("voice-object-path", _with(voice={"id": "../voices/af_heart"}), param="voice"),
    # speed
    Bad("speed-nan", _raw('{"input": "Hello.", "speed": NaN}'), param="speed"),
    Bad("speed-infinity", _raw('{"input": "Hello.", "speed": Infinity}'), param="speed"),
    Bad("speed-minus-infinity", _raw('{"input": "Hello.", "speed": -Infinity}'), param="speed"),
    Bad("speed-word", _with(speed="fast"), param="speed"),
    Bad("speed-numeric-string", _with(speed="1.0"), param="speed"),
    Bad("speed-bool", _with(speed=True), param="speed"),
    Bad("speed-null", _with(speed=None), param="speed"),
    Bad("speed-zero", _with(speed=0), param="speed"),
    Bad("speed-under-the-minimum", _with(speed=0.1), param="speed"),
    Bad("speed-over-the-maximum", _with(speed=4.5), param="speed"),
    Bad("speed-negative", _with(speed=-1), param="speed"),
    Bad("speed-huge", _with(speed=1e308), param="speed"),
    Bad("speed-list", _with(speed=[1.0]), param="speed"),
    # the other fields
    Bad("model-unknown", _with(model="whisper-1"), param="model", code="model_not_found"),
    Bad("model-null", _with(model=None), param="model"),
    Bad("model-object", _with(model={"id": "kokoro"}), param="model"),
    Bad("format-unknown", _with(response_format="ogg"), param="response_format"),
    Bad("format-null", _with(response_format=None), param="response_format"),
    Bad("format-number", _with(response_format=3), param="response_format"),
    Bad("stream-string", _with(stream="yes"), param="stream"),
    Bad("stream-number", _with(stream=1), param="stream"),
    Bad("stream-format-unknown", _with(stream_format="websocket"), param="stream_format"),
    Bad("split-sentences-string", _with(split_sentences="no"), param="split_sentences"),
    Bad("lang-code-unknown", _with(lang_code="xx"), param="lang_code"),
    Bad("lang-code-nul", _with(lang_code="\x00"), param="lang_code"),
    Bad("lang-code-too-long", _with(lang_code="en-" * 10), param="lang_code"),
    Bad("instructions-object", _with(instructions={"tone": "calm"}), param="instructions"),
    Bad("timestamps-without-sse", _with(timestamps=True), param="timestamps"),
    Bad("timestamps-string", _with(timestamps="yes", stream_format="sse"), param="timestamps"),
    Bad("normalize-string", _with(normalize="no"), param="normalize"),
    Bad(
        "captions-without-timestamps", _with(captions="vtt", stream_format="sse"), param="captions"
    ),
    Bad("captions-without-sse", _with(captions="srt", timestamps=True), param="captions"),
    Bad(
        "captions-unknown",
        _with(captions="ass", stream_format="sse", timestamps=True),
        param="captions",
    ),
]


def _words(*times: tuple[float, float], word: Any = "word") -> list[dict[str, Any]]:
    return [{"word": word, "start": start, "end": end} for start, end in times]


def _captions(**fields: Any) -> dict[str, Any]:
    return {"words": _words((0.1, 0.4), (0.5, 0.9)), "format": "vtt", **fields}


MAX_CAPTION_WORDS = 200_000  # tts_service.captions.MAX_CAPTION_WORDS
BAD_CAPTIONS = [
    Bad("no-words", {"format": "vtt"}, param="words", path=CAPTIONS),
    Bad("words-not-a-list", _captions(words="Hello"), param="words", path=CAPTIONS),
    Bad("format-unknown", _captions(format="ass"), param="format", path=CAPTIONS),
    Bad("start-negative", _captions(words=_words((-0.1, 0.4))), param="words", path=CAPTIONS),
    Bad("end-before-start", _captions(words=_words((0.5, 0.4))), param="words", path=CAPTIONS),
    Bad("starts-unsorted", _captions(words=_words((0.5, 0.6), (0.1, 0.2))), param="words",
        path=CAPTIONS),
    Bad("start-not-a-number", _captions(words=_words(("soon", 0.4))), param="words",
        path=CAPTIONS),
    Bad("end-a-boolean", _captions(words=_words((0.0, False))), param="words", path=CAPTIONS),
    Bad("start-a-numeric-string", _captions(words=_words(("0.5", 0.9))), param="words",
        path=CAPTIONS),
    Bad("start-nan", b'{"words": [{"word": "a", "start": NaN, "end": 1}]}', param="words",
        path=CAPTIONS),
    Bad("end-infinite", b'{"words": [{"word": "a", "start": 0, "end": Infinity}]}',
        param="words", path=CAPTIONS),
    Bad("start-huge", _captions(words=_words((1e300, 1e300))), param="words", path=CAPTIONS),
    Bad("word-empty", _captions(words=_words((0.1, 0.4), word="")), param="words", path=CAPTIONS),
    Bad("word-spaces", _captions(words=_words((0.1, 0.4), word=" \n\t")), param="words",
        path=CAPTIONS),
    Bad("word-not-a-string", _captions(words=_words((0.1, 0.4), word=7)), param="words",
        path=CAPTIONS),
    Bad("word-missing", _captions(words=[{"start": 0.1, "end": 0.2}]), param="words",
        path=CAPTIONS),
    Bad("not-json", b"{words", code="invalid_json", path=CAPTIONS),
    Bad("body-too-large", json.dumps(_captions(words=_words(*[(1.0, 1.0)] * 30_000))).encode(),
        status=413, code="request_too_large", path=CAPTIONS),
]  # fmt: skip
"""Malformed ``POST /v1/audio/captions`` bodies, each a 400 (413 for a body over the limit)."""

# Odd but valid: spoken (200, audio), never an error. Kept short: the real model speaks each.
ODD_BUT_VALID: list[tuple[str, dict[str, Any]]] = [
    ("ssml", _with(input='<speak>Hi <break time="1s"/> <emphasis>all</emphasis>.</speak>')),
    ("html", _with(input='<p>Read <a href="https://x.example">this</a>.</p><script>x()</script>')),
    ("markdown", _with(input="# News\n**Rain** _today_, [details](http://x).\n```\nok\n```")),
    ("mixed-scripts", _with(input="Hi мир 世界.")),
    ("emoji-and-text", _with(input="Hi 😀 all.")),
    ("control-and-format-chars", _with(input="Hel\x00lo\u200b there\u202e.\r\nBye\x1b")),
    ("angle-brackets-in-prose", _with(input="Use <name>; 3 < 5.")),
    ("numbers-and-url", _with(input="Call 5550 at x.io/a?b.")),
    ("unknown-fields", _with(input="Hello.", temperature=0.7, user={"id": 1})),
    ("voice-object-alias", _with(input="Hello.", voice={"id": "nova"})),
    ("voice-weighted-blend", _with(input="Hello.", voice="af_heart(2)+af_bella(0.5)")),
    ("voice-blend-tiny-weight", _with(input="Hello.", voice="af_heart(1e-50)")),
    ("voice-blend-tiny-weights", _with(input="Hello.", voice="af_heart(1e-300)+af_bella(1e-300)")),
    ("no-spaces-word", _with(input="Supercalifragilisticexpialidocious")),
    # What the normalizer must read without error (numbers that are not quite numbers).
    ("odd-numbers", _with(input="1e308, -0, 1,2,3,4, $, %%%, 12:99, 99/99/9999, https:// .")),
    ("long-number", _with(input="1" + "0" * 20 + ".")),  # past 15 digits: read one by one
    ("long-url", _with(input="See https://example.com/" + "abc/" * 900 + " now.")),
    ("normalize-off", _with(input="It costs $12.50.", normalize=False)),
    # The SSML subset and the pause form, well and badly formed: spoken, never an error.
    (
        "ssml-subset",
        _with(
            input=(
                '<speak>Hi <break time="300ms"/> <sub alias="Doctor">Dr.</sub> Who, <say-as '
                'interpret-as="cardinal">42</say-as> <phoneme alphabet="ipa" ph="kəˈkɔːɹoʊ">Kokoro'
                '</phoneme> <prosody rate="slow">slowly</prosody> [pause 200ms] done.</speak>'
            )
        ),
    ),
    (
        "ssml-bad-values",
        _with(
            input=(
                'A <break time="-5s"/> b <break time="1e400s"/> c <prosody rate="-3">d</prosody> '
                '<say-as interpret-as="nonsense">e</say-as> <phoneme ph="###">f</phoneme>.'
            )
        ),
    ),
    (
        "ssml-unclosed-and-nested",
        _with(
            input=(
                '<speak><say-as interpret-as="date"><say-as interpret-as="digits">12</say-as> May '
                '<prosody rate="x-fast">then <sub alias="a">b'
            )
        ),
    ),
    ("ssml-deeply-nested", _with(input="<prosody rate='slow'><s>" * 130 + "Deep text.")),
    ("ssml-huge-attribute", _with(input='<phoneme ph="' + "ə" * 3500 + '">Word</phoneme> here.')),
    ("ssml-many-breaks", _with(input="Hi " + '<break time="1ms"/> a' * 8 + " there.")),
]


MAX_HEAD_BYTES = 16 * 1024  # tts_service.connections.MAX_HEAD_BYTES

# Not HTTP the server can parse: answered by the connection (the app never sees them), in the
# same error shape, then closed. (id, the bytes sent, status, code)
BAD_HTTP: list[tuple[str, bytes, int, str]] = [
    # The head is still incomplete when it passes the limit (sent whole, it would be refused the
    # same way, but the unread rest can reset the connection before the answer is read).
    ("head-over-limit", b"GET / HTTP/1.1\r\nHost: x\r\nX: " + b"a" * (MAX_HEAD_BYTES + 1),
     431, "headers_too_large"),
    ("negative-content-length",
     b"POST /v1/audio/speech HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n", 400,
     "invalid_http"),
    ("tls-on-the-plain-port", bytes.fromhex("16030100c4010000c00303") + bytes(32), 400,
     "invalid_http"),
    ("not-http", b"HELLO THERE\r\n\r\n", 400, "invalid_http"),
]  # fmt: skip


BAD_MESSAGES: list[tuple[str | bytes, str | None, str | None]] = [
    ("not json", "invalid_message", None),
    ("[1, 2]", "invalid_message", None),
    ('{"type": "nonsense"}', "invalid_message", "type"),
    ('{"text": "no type"}', "invalid_message", "type"),
    ('{"type": "text.delta", "text": "no turn"}', "no_turn", "type"),
    ('{"type": "text.delta"}', "invalid_message", "text"),
    ('{"type": "turn.end"}', "no_turn", "type"),
    ('{"type": "turn.clear"}', "no_turn", "type"),
    ('{"type": "turn.start", "speed": 9}', "invalid_message", "speed"),
    ('{"type": "turn.start", "response_format": "ogg"}', "invalid_message", "response_format"),
    ('{"type": "turn.start", "audio": "hex"}', "invalid_message", "audio"),
    ('{"type": "turn.start", "voice": "zz_nobody"}', "voice_not_found", "voice"),
    ('{"type": "turn.start", "model": "gpt-9"}', "model_not_found", "model"),
    ('{"type": "turn.start", "lang_code": "xx"}', None, "lang_code"),
    ('{"type": "turn.start", "turn_id": ""}', "invalid_message", "turn_id"),
    ('{"type": "turn.start", "captions": "vtt"}', None, "captions"),
    (
        '{"type": "turn.start", "timestamps": true, "captions": "ass"}',
        "invalid_message",
        "captions",
    ),
    (b"\x00\x01binary", "invalid_message", None),
]
"""Frames the streamed-text WebSocket must answer with an ``error`` event (code, param; None:
not checked), its connection staying usable: run in-process (tests/unit/test_text_stream.py)
and against a real server (tests/integration/test_text_stream.py)."""


def send(client: httpx.Client, case: Bad) -> httpx.Response:
    """Post ``case`` as it is meant to arrive: JSON, raw bytes, or raw bytes chunked."""
    if isinstance(case.body, dict):
        return client.post(case.path, json=case.body, headers=case.headers)
    raw = case.body or b""
    headers = {"content-type": "application/json", **case.headers}
    if case.chunked:

        def pieces() -> Iterator[bytes]:
            for start in range(0, len(raw), 65_536):
                yield raw[start : start + 65_536]

        return client.post(case.path, content=pieces(), headers=headers)
    return client.post(case.path, content=raw, headers=headers)
