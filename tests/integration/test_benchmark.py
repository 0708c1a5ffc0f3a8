"""The benchmark programs run against the real model or a real server and write well-formed
results."""

from __future__ import annotations

import asyncio
import json
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.helpers import free_port
from tests.integration.conftest import RunningServer, start_server, stop_server


def wait_until_listening(port: int, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        assert process.poll() is None, "the reference server exited"
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.2)
    raise TimeoutError("the reference server did not start")


def run_benchmark(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "benchmarks.ttfa", *args],
        capture_output=True, text=True, timeout=600, cwd=Path(__file__).parents[2],
    )  # fmt: skip


def test_single_mode_writes_json_markdown_and_timeline(
    server: RunningServer, tmp_path: Path
) -> None:
    result = run_benchmark(
        "single", "--url", server.url, "--out", str(tmp_path), "--case", "short",
        "--format", "pcm", "--format", "mp3", "--repeats", "1", "--warmup", "0",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    data = json.loads((tmp_path / "single.json").read_text())
    modes = {(row["mode"], row["format"], row["stream"]) for row in data["summary"]}
    assert modes == {(m, f, s) for f in ("pcm", "mp3") for m, s in
                     (("stream", True), ("baseline", True), ("stream", False))}  # fmt: skip
    for run in data["runs"]:
        assert run["error"] is None and run["status"] == 200
        assert 0 < run["ttfa"] <= run["last_chunk"] <= run["total"]
        assert 5.0 < run["audio_seconds"] < 8.0  # the two-sentence phrase
        assert run["bytes"] == sum(size for _, size in run["arrivals"])
    streamed = [r for r in data["runs"] if r["stream"] and r["mode"] == "stream"]
    baseline = [r for r in data["runs"] if r["mode"] == "baseline"]
    # Sentence streaming sends the first sentence while the rest is synthesized: before the
    # phrase in one piece is done (whose first audio may come early too: a first chunk long
    # enough is rendered in windows).
    assert max(r["ttfa"] for r in streamed) < min(r["total"] for r in baseline)
    assert "| short | stream | pcm |" in (tmp_path / "single.md").read_text()
    assert (tmp_path / "timeline.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "TTFA median" in result.stdout


def test_load_mode_reports_each_client_class(server: RunningServer, tmp_path: Path) -> None:
    text = tmp_path / "long.txt"
    text.write_text("A shorter long-form text for the test. " * 6)
    result = run_benchmark(
        "load", "--url", server.url, "--out", str(tmp_path), "--conversational", "1",
        "--long-form", "1", "--duration", "8", "--pause", "0.5", "--text-file", str(text),
        "--lead", "1", "--idle-runs", "1",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    data = json.loads((tmp_path / "load.json").read_text())
    assert {row["mode"] for row in data["summary"]} == {"idle", "conversational", "long-form"}
    # A request the server has no capacity for is refused (429) and sent again after the pause.
    assert all(run["error"] is None for run in data["runs"] if run["status"] != 429)
    assert "conversational: n=" in result.stdout and "long-form: n=" in result.stdout
    assert "p95/idle=" in result.stdout and "stall p50=" in result.stdout
    assert (tmp_path / "load_ttfa.png").stat().st_size > 1000


def test_a_load_client_whose_request_is_refused_stops_instead_of_retrying(
    server: RunningServer, tmp_path: Path
) -> None:
    """An article over the server's input limit gets one 400, reported, not a tight loop of them."""
    text = tmp_path / "too-long.txt"
    text.write_text("Far too long for this server. " * 200)  # 6,000 characters > 4,096
    result = run_benchmark(
        "load", "--url", server.url, "--out", str(tmp_path), "--conversational", "0",
        "--long-form", "1", "--duration", "5", "--text-file", str(text), "--lead", "0",
        "--idle-runs", "1",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    runs = json.loads((tmp_path / "load.json").read_text())["runs"]
    refused = [run for run in runs if run["mode"] == "long-form"]
    assert [run["status"] for run in refused] == [400]
    assert "input_too_long" in refused[0]["error"]
    assert "long-form/pcm: HTTP 400" in result.stderr


def test_the_benchmark_runs_against_another_openai_compatible_server(
    model_settings: object, tmp_path: Path
) -> None:
    """Not only ours: the kokoro-onnx reference server (create_stream behind the same route)."""
    port = free_port()
    log = (tmp_path / "reference.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "benchmarks.reference_server", "--port", str(port)],
        cwd=Path(__file__).parents[2], stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        url = f"http://127.0.0.1:{port}"
        wait_until_listening(port, process)
        result = run_benchmark(
            "single", "--url", url, "--out", str(tmp_path), "--case", "short",
            "--format", "pcm", "--repeats", "1", "--warmup", "0",
        )  # fmt: skip
    finally:
        process.terminate()
        process.wait(20)
    assert result.returncode == 0, result.stderr
    data = json.loads((tmp_path / "single.json").read_text())
    for run in data["runs"]:
        assert run["error"] is None and run["status"] == 200
        assert 5.0 < run["audio_seconds"] < 8.0  # the whole phrase came back


def test_the_model_floor_command_writes_its_numbers(model_settings: object, tmp_path: Path) -> None:
    text = tmp_path / "text.txt"
    text.write_text("A short text for the floor. It has two sentences.")
    result = subprocess.run(
        [sys.executable, "-m", "benchmarks.floor", "--text-file", str(text), "--repeats", "1",
         "--out", str(tmp_path)],
        capture_output=True, text=True, timeout=300, cwd=Path(__file__).parents[2],
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    data = json.loads((tmp_path / "floor.json").read_text())
    assert 0 < data["first_chunk_seconds"]["min"] <= data["first_chunk_seconds"]["max"]
    opening = data["opening"]
    # The first chunk of a long opening sentence is its first clause, not the whole sentence.
    assert opening["first_sentence"].endswith("all night.")
    assert opening["first_sentence"].startswith(opening["first_chunk"])
    assert opening["first_chunk"].endswith(",")
    assert 0 < opening["first_chunk_seconds"]["min"] <= opening["first_chunk_seconds"]["max"]
    assert opening["first_sentence_seconds"]["min"] > 0
    assert len(opening["first_chunk"]) < len(opening["first_sentence"]) / 2
    back = data["back_to_back"]
    assert back["chunks"] == 1 and back["chars"] == len(text.read_text())
    assert 2.0 < back["audio_seconds"] < 8.0 and back["chars_per_second"] > 0


def test_the_soak_sends_mixed_traffic_and_reports_errors_ttfa_and_memory(
    server: RunningServer, tmp_path: Path
) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "benchmarks.soak", "--url", server.url, "--duration", "8",
         "--clients", "2", "--think", "0.2", "--long-chars", "120", "--out", str(tmp_path)],
        capture_output=True, text=True, timeout=300, cwd=Path(__file__).parents[2],
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    data = json.loads((tmp_path / "soak.json").read_text())
    summary = data["summary"]
    assert summary["requests"] == len(data["requests"]) >= 3
    assert summary["unexpected"] == []
    # Client 0 starts with a bad request, client 1 by hanging up: each is seen and judged.
    assert {"bad_request_refused", "hung_up"} <= set(summary["by_result"])
    assert set(summary["by_result"]) <= {"ok", "rejected", "bad_request_refused", "hung_up"}
    assert summary["active_streams_end"] == 0 and summary["queued_chunks_end"] == 0
    assert 50 < summary["rss_start_mb"] <= summary["rss_peak_mb"] < 2000
    assert all(sample["rss_bytes"] > 0 for sample in data["samples"])
    assert len(data["samples"]) >= 8  # one a second
    if summary["by_result"].get("ok"):
        assert 0 < summary["ttfa_all_p50_s"] <= summary["ttfa_all_p95_s"]
    counters = data["server_counters"]
    assert sum(v for k, v in counters.items() if k.startswith("tts_rejected_requests")) >= 1
    assert "| unexpected errors | **0** |" in (tmp_path / "soak.md").read_text()
    assert (tmp_path / "soak.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_the_startup_benchmark_reports_time_to_ready_and_memory(
    model_settings: object, tmp_path: Path
) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "benchmarks.startup", "--starts", "1", "--requests", "1",
         "--out", str(tmp_path)],
        capture_output=True, text=True, timeout=300, cwd=Path(__file__).parents[2],
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    (run,) = json.loads((tmp_path / "startup.json").read_text())["runs"]
    assert 0 < run["listening_s"] <= run["ready_s"] < 300
    assert 100 < run["rss_ready_mb"] <= run["rss_after_requests_mb"] + 1 < 4000
    assert 0 < run["first_request_ttfa_s"] < 300
    assert "| ready (s) |" in (tmp_path / "startup.md").read_text()


def test_the_memory_benchmark_reports_audio_per_phoneme_and_memory_per_second(
    model_settings: object,
) -> None:
    def run(*args: str) -> str:
        result = subprocess.run(
            [sys.executable, "-m", "benchmarks.memory", *args],
            capture_output=True, text=True, timeout=300, cwd=Path(__file__).parents[2],
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
        return result.stdout

    rate = run("rate", "--sizes", "60", "--chars", "60")
    assert re.search(r"^\| 60 \| \d+ \|", rate, re.MULTILINE)
    edge, per_phoneme = re.search(r"at most ([\d.]+) s \+ ([\d.]+) s per phoneme", rate).groups()  # type: ignore[union-attr]
    assert 0 <= float(edge) < 2 and 0.03 < float(per_phoneme) < 0.15
    growth = run("growth", "--speeds", "4").splitlines()[-1].split("|")
    audio, before, peak, grown, per_second = map(float, growth[2:7])
    assert 1 < audio < 20 and 0 < before < peak and grown == pytest.approx(peak - before, abs=1)
    assert per_second == pytest.approx(grown / audio, rel=0.05)


def test_the_overload_benchmark_prints_one_row_per_burst(
    server: RunningServer, tmp_path: Path
) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "benchmarks.overload", "--url", server.url, "--out", str(tmp_path),
         "--clients", "1", "--clients", "3", "--idle-runs", "1"],
        capture_output=True, text=True, timeout=600, cwd=Path(__file__).parents[2],
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    table = (tmp_path / "overload.md").read_text()
    assert table in result.stdout
    rows = json.loads((tmp_path / "overload.json").read_text())["meta"]["rows"]
    assert [row["clients"] for row in rows] == [1, 3]
    assert rows[0]["served"] == 1 and rows[0]["refused"] == 0
    assert rows[1]["served"] + rows[1]["refused"] == 3 and rows[1]["other"] == 0
    assert "| 3 |" in table and "longest playback gap" in table


STREAMED_REPLY = (
    "That is a good plan for today. Dr. Lee opens the clinic at 9 and sees 14 patients by noon. "
    "Would you like a reminder?"
)


def run_streamed_input(tmp_path: Path, *args: str) -> tuple[dict, str]:
    replies = tmp_path / "replies.txt"
    replies.write_text(STREAMED_REPLY + "\n")
    result = subprocess.run(
        [sys.executable, "-m", "benchmarks.streamed_input", "--replies", str(replies),
         "--rate", "100", "--model-runs", "1", "--output", str(tmp_path / "streamed.md"), *args],
        capture_output=True, text=True, timeout=600, cwd=Path(__file__).parents[2],
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "streamed.md").read_text() in result.stdout
    return json.loads((tmp_path / "streamed.json").read_text()), result.stdout


def test_the_streamed_input_benchmark_times_each_way_idle_and_under_load_then_clears(
    server: RunningServer, tmp_path: Path
) -> None:
    from benchmarks.simulated_llm import first_sentence_token, sentences, tokens

    data, stdout = run_streamed_input(
        tmp_path, "--url", server.url, "--scenario", "idle", "--scenario", "load",
        "--load-streams", "1", "--load-chars", "150",
    )  # fmt: skip
    runs = {(r["scenario"], r["mode"]): r for r in data["runs"]}
    modes = ("websocket", "sequential", "concurrent")
    assert set(runs) == {(s, m) for s in ("idle", "load") for m in modes}
    pieces = tokens(STREAMED_REPLY)
    # The first sentence is complete once the token after its full stop is written, at 100/s.
    written = first_sentence_token(pieces) / 100
    n_sentences = len(list(sentences(STREAMED_REPLY)))  # 4: the splitter cuts after "Dr."
    assert n_sentences == 4
    for run in runs.values():
        assert run["error"] is None, run
        assert run["rate"] == 100 and run["model_time"] > 0
        assert written <= run["chunk_ready"] < written + run["model_time"] + 5
        assert run["requests"] == (1 if run["mode"] == "websocket" else n_sentences)
        assert run["goal"] == pytest.approx(run["chunk_ready"] + 1.15 * run["model_time"])
        if run["refused"]:  # the server may turn a request away as busy: it is counted, not failed
            continue
        assert run["chunk_ready"] < run["first_audio"], run
        assert run["goal_met"] == (run["first_audio"] <= run["goal"])
        # The listener waits only between the first and the last byte.
        assert 0 <= run["gap"] <= run["last_audio"] - run["first_audio"] + 1e-6, run
        assert 4.0 < run["audio_seconds"] < 12.0  # the whole reply, however it was cut
    idle = runs[("idle", "websocket")]
    assert idle["status"] == "completed" and not idle["refused"]
    # One text, spoken whole over the WebSocket and sentence by sentence over HTTP.
    assert idle["audio_seconds"] == pytest.approx(runs[("idle", "sequential")]["audio_seconds"],
                                                  rel=0.3)  # fmt: skip

    clear = data["clear"]
    assert clear["error"] is None, clear
    assert clear["status"] == "cleared" and clear["first_audio"] > 0
    assert 0 <= clear["spoken_until"] < clear["text_sent"]
    assert 0 <= clear["last_frame_after_clear"] <= clear["done_after_clear"]
    assert any(value > 0 for name, value in clear["counters"].items() if "cancel" in name)
    assert clear["next_status"] == "completed" and clear["next_audio_seconds"] > 1.0
    for heading in ("### Idle", "### Under load (1 long HTTP streams)", "### Barge-in"):
        assert heading in stdout
    assert "| 100 | WebSocket, a delta per token |" in stdout
    # The gap goal, over the reply if both ways spoke it whole (the server may refuse one as busy).
    assert re.search(
        r"^- 100 tokens/s(, 1 reply: WebSocket gap [\d.]+ s, per sentence one at a time [\d.]+ s; "
        r"goal \(at most half\) (met|\*\*not met\*\*)|: gaps not compared \(.*\))$",
        stdout, re.MULTILINE,
    )  # fmt: skip


def test_the_streamed_input_benchmark_speaks_over_wyoming_in_both_forms(
    model_settings: object, tmp_path: Path
) -> None:
    """Whole text always; the streaming form where the server's info offers it, else reported as
    not supported."""
    from benchmarks.simulated_llm import tokens
    from benchmarks.wyoming_clients import supports_streaming

    port = free_port()
    server = start_server(tmp_path, {"TTS_WYOMING_PORT": str(port)})
    try:
        streaming = asyncio.run(supports_streaming("127.0.0.1", port, 30))
        data, stdout = run_streamed_input(
            tmp_path, "--url", server.url, "--wyoming-port", str(port), "--scenario", "idle",
            "--mode", "wyoming-stream", "--mode", "wyoming-whole", "--no-clear",
        )  # fmt: skip
    finally:
        stop_server(server)
    runs = {r["mode"]: r for r in data["runs"]}
    assert data["meta"]["wyoming_streaming_supported"] is streaming
    whole = runs["wyoming-whole"]
    assert whole["error"] is None and not whole["refused"], whole
    # The whole text is sent once the model has written its last token.
    assert whole["chunk_ready"] >= (len(tokens(STREAMED_REPLY)) - 1) / 100
    assert whole["chunk_ready"] < whole["first_audio"]
    assert 4.0 < whole["audio_seconds"] < 12.0 and whole["gap"] >= 0
    streamed = runs["wyoming-stream"]
    if streaming:
        assert streamed["error"] is None and streamed["status"] == "", streamed
        assert streamed["requests"] == 1
        if not streamed["refused"]:
            # Its first chunk is the first sentence, complete long before the whole reply.
            assert streamed["chunk_ready"] < streamed["first_audio"]
            assert streamed["chunk_ready"] < whole["chunk_ready"]
            assert 4.0 < streamed["audio_seconds"] < 12.0
    else:
        assert streamed["status"] == "not supported" and streamed["requests"] == 0
        assert "| Wyoming, streaming form | not supported by the server |" in stdout


def test_the_g2p_benchmark_compares_both_engines_on_three_sentences(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "benchmarks.g2p", "--limit", "3", "--output", str(tmp_path / "g2p.md"),
         "--json-out", str(tmp_path / "g2p.json")],
        capture_output=True, text=True, timeout=300, cwd=Path(__file__).parents[2],
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    table = (tmp_path / "g2p.md").read_text()
    rows = {
        line.split("|")[1].strip(): line.split("|")
        for line in table.splitlines()
        if line.startswith("| espeak") or line.startswith("| misaki")
    }
    assert set(rows) == {"espeak", "misaki"}
    for row in rows.values():
        assert 0.0 <= float(row[2]) <= 0.2  # word error rate: these three are heard nearly right
        assert float(row[5]) > 0  # the model's time per sentence
    sentences = json.loads((tmp_path / "g2p.json").read_text())
    assert len(sentences) == 3
    assert all(s["misaki"]["phonemes"] != s["espeak"]["phonemes"] for s in sentences)


def test_the_cjk_g2p_benchmark_compares_both_engines_on_a_sentence_each(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "benchmarks.g2p_cjk", "--limit", "1",
         "--output", str(tmp_path / "g2p-cjk.md")],
        capture_output=True, text=True, timeout=300, cwd=Path(__file__).parents[2],
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    rows = {
        (cells[1].strip(), cells[3].strip()): float(cells[5])
        for line in (tmp_path / "g2p-cjk.md").read_text(encoding="utf-8").splitlines()
        if len(cells := line.split("|")) == 8 and cells[3].strip() in ("espeak", "misaki")
    }
    assert set(rows) == {(lang, g2p) for lang in ("cmn", "ja") for g2p in ("espeak", "misaki")}
    # misaki's sentences are heard nearly right; espeak-ng names the Japanese kanji.
    assert rows["cmn", "misaki"] <= 0.2 and rows["ja", "misaki"] <= 0.2
    assert rows["ja", "espeak"] > 0.5
