"""Model-level A/B of the backends on this machine: the same tokens, voice and speed through the
int8 ONNX model, the fp32 ONNX export (``tts-service export-onnx``; exported first if missing)
and the torch backend (float32 and bfloat16), interleaved run by run so that a busy machine slows
them alike; the best of ``--repeats`` runs per backend. ``--server-rss`` then starts a real server
on each ONNX model and reports its memory (VmRSS after one request, and the peak VmHWM) and the
time to first audio of "Hi Mediclinic." (best of three).

    python -m benchmarks.backends --repeats 3 --threads 2 [--onnx-only] [--server-rss]
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import click
import httpx
import torch

from benchmarks.measure import free_port, process_memory_mb
from tts_service.assets import ensure_assets
from tts_service.backends import Backend
from tts_service.backends.onnx import OnnxBackend
from tts_service.backends.onnx_export import ensure_fp32_onnx
from tts_service.backends.pytorch import TorchBackend
from tts_service.config import Settings
from tts_service.text.phonemes import Phonemizer
from tts_service.voices import VoiceStore

TEXTS = {
    "first": "Hi Mediclinic.",
    "short": "Your EHR project sounds interesting and has the potential for a lot of impact.",
    "long": "The most famous early example stood at Alexandria, on the island of Pharos, and was "
    "finished around 280 BC. Ancient writers claimed that its fire could be seen from more than "
    "50 kilometres away, which is almost certainly an exaggeration.",
}


@click.command()
@click.option("--repeats", default=3, show_default=True)
@click.option("--threads", default=2, show_default=True, help="Intra-op threads of each backend.")
@click.option("--voice", default="af_heart", show_default=True)
@click.option("--server-rss", is_flag=True, help="Also measure a server on each ONNX model.")
@click.option("--onnx-only", is_flag=True, help="Leave the torch backend out.")
def main(repeats: int, threads: int, voice: str, server_rss: bool, onnx_only: bool) -> None:
    settings = Settings(torch_device="cpu", onnx_threads=threads, torch_threads=threads)
    files = ensure_assets(settings)
    exported = settings.model_copy(update={"model_path": ensure_fp32_onnx(settings)})
    backends: dict[str, Backend] = {
        "onnx int8": OnnxBackend.from_settings(settings, files),
        "onnx fp32 (export)": OnnxBackend.from_settings(exported, ensure_assets(exported)),
    }
    if not onnx_only:
        float32 = settings.model_copy(update={"torch_dtype": "float32"})
        fp32 = backends["torch float32"] = TorchBackend.from_settings(float32, files)
        backends["torch bfloat16"] = TorchBackend(fp32._model, torch.device("cpu"), torch.bfloat16)
    style_table = VoiceStore.load(files.voices).resolve(voice)
    phonemizer = Phonemizer()
    click.echo("| text | chars | tokens | backend | best s | chars/s | audio s / wall s |")
    click.echo("|---|---|---|---|---|---|---|")
    for name, text in TEXTS.items():
        tokens = phonemizer.tokenize(phonemizer.phonemize(text, style_table.lang))
        style = style_table.style_for(len(tokens))
        best = dict.fromkeys(backends, float("inf"))
        seconds = dict.fromkeys(backends, 0.0)
        for _ in range(repeats):
            for label, backend in backends.items():
                started = time.perf_counter()
                audio = backend.synthesize(tokens, style, 1.0)
                best[label] = min(best[label], time.perf_counter() - started)
                seconds[label] = audio.size / backend.sample_rate
        for label in backends:
            click.echo(
                f"| {name} | {len(text)} | {len(tokens)} | {label} | {best[label]:.2f} | "
                f"{len(text) / best[label]:.0f} | {seconds[label] / best[label]:.2f} |"
            )
    if server_rss:
        click.echo('\n| model | VmRSS after a request | peak VmHWM | TTFA "Hi Mediclinic." |')
        click.echo("|---|---|---|---|")
        for label, model in (
            ("onnx int8", files.model),
            ("onnx fp32 (export)", exported.model_path),
        ):
            rss, peak, ttfa = _server_figures(Path(str(model)), threads)
            click.echo(f"| {label} | {rss} MB | {peak} MB | {ttfa:.2f} s |")


def _server_figures(model: Path, threads: int) -> tuple[int, int, float]:
    """(VmRSS MB after one request, VmHWM MB, best TTFA s of 3) of a server on ``model``."""
    port = free_port()
    # The repeats time synthesis: the phrase cache is off.
    env = {**os.environ, "TTS_BACKEND": "onnx", "TTS_MODEL_PATH": str(model),
           "TTS_ONNX_THREADS": str(threads), "TTS_LOG_LEVEL": "warning",
           "TTS_PHRASE_CACHE_BYTES": "0"}  # fmt: skip
    server = subprocess.Popen(
        [sys.executable, "-m", "tts_service", "serve", "--port", str(port)], env=env
    )
    url = f"http://127.0.0.1:{port}"
    try:
        while True:
            try:
                if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.25)
        ttfa = float("inf")
        body = {"input": TEXTS["first"], "voice": "af_heart", "response_format": "pcm"}
        for _ in range(3):
            started = time.perf_counter()
            with httpx.stream("POST", f"{url}/v1/audio/speech", json=body, timeout=120) as reply:
                for n, _ in enumerate(reply.iter_bytes()):
                    if n == 0:
                        ttfa = min(ttfa, time.perf_counter() - started)
        httpx.post(f"{url}/v1/audio/speech", json={**body, "input": TEXTS["long"]}, timeout=300)
        return (
            int(process_memory_mb(server.pid)),
            int(process_memory_mb(server.pid, "VmHWM")),
            ttfa,
        )
    finally:
        server.send_signal(signal.SIGINT)
        server.wait(timeout=30)


if __name__ == "__main__":
    main()
