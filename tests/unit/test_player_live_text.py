"""Live mode's text functions (``player/live-text.js``), run by Node as the ES module the page
loads: the server counts code points, JavaScript strings count UTF-16 units, and a keystroke or a
replayed token must add exactly the text the turn is given."""

from __future__ import annotations

import json
import shutil
import subprocess
from typing import Any

import pytest

from tts_service.routes.web import PLAYER_DIR

MODULE = (PLAYER_DIR / "player" / "live-text.js").as_uri()

# Outside the Basic Multilingual Plane (two UTF-16 units each), and a combining accent (one code
# point of its own).
REPLY = "Sure 👋! Café au lait costs 3.50 € in Zürich 🇨🇭, doesn't it?  Ask again."


def run_js(expression: str) -> Any:
    """The JSON value of ``expression``, evaluated with the module imported as ``m``."""
    node = shutil.which("node")
    if node is None:
        pytest.skip("Node.js is not installed (Debian: apt-get install nodejs)")
    script = f"import * as m from {json.dumps(MODULE)};\nconsole.log(JSON.stringify({expression}));"
    done = subprocess.run(
        [node, "--input-type=module", "-e", script], capture_output=True, text=True, timeout=30,
        check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_code_point_offsets_become_utf16_indexes() -> None:
    text = "a😀b" + "e\u0301"  # 5 code points, 6 UTF-16 units
    assert run_js(f"m.codePointLength({json.dumps(text)})") == 5
    cuts = run_js(f"[0, 1, 2, 3, 4, 5, 9].map((n) => m.splitAt({json.dumps(text)}, n))")
    assert cuts == [
        ["", text], ["a", "😀be\u0301"], ["a😀", "be\u0301"], ["a😀b", "e\u0301"],
        ["a😀be", "\u0301"], [text, ""], [text, ""],
    ]  # fmt: skip
    # The server's offsets for the reply (Python counts code points too) cut it where they say.
    for offset in (5, 6, 7, 40, len(REPLY)):
        spoken, rest = run_js(f"m.splitAt({json.dumps(REPLY)}, {offset})")
        assert (spoken, rest) == (REPLY[:offset], REPLY[offset:])


def test_a_keystroke_adds_only_its_new_tail() -> None:
    assert run_js('m.appendedText("Hel", "Hello")') == "lo"
    assert run_js('m.appendedText("Hello", "Hello")') == ""
    assert run_js('m.appendedText("", "H")') == "H"
    # Text already sent cannot be changed: the turn would disagree with the server's.
    assert run_js('m.appendedText("Hello", "Help")') is None
    assert run_js('m.appendedText("Hello", "Hell")') is None


def test_a_replayed_reply_is_cut_into_small_tokens_that_give_it_back() -> None:
    tokens = run_js(f"m.replayTokens({json.dumps(REPLY)})")
    assert "".join(tokens) == REPLY
    assert all(1 <= len(token) <= 4 for token in tokens)  # len(): code points, never half a pair
    assert len(tokens) >= len(REPLY) // 4
    assert " Caf" in tokens  # a word keeps its leading space, as a language model's token does
    assert run_js('m.replayTokens("")') == []


def test_tokens_are_due_at_the_chosen_rate() -> None:
    # The first token at once, then one every 1/rate seconds, never more than there are.
    assert run_js("[0, 99, 100, 250, 1000].map((ms) => m.tokensDue(ms, 10, 100))") == [
        1, 1, 2, 3, 11,
    ]  # fmt: skip
    assert run_js("m.tokensDue(1000, 200, 100)") == 100
    assert run_js("m.tokensDue(60000, 5, 7)") == 7
