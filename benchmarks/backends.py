"""Model-level A/B of the backends on this machine: the same tokens, voice and speed through the
int8 ONNX model and the torch backend (float32 and bfloat16), interleaved run by run so that a
busy machine slows them alike; the best of ``--repeats`` runs per backend.

    python -m benchmarks.backends --repeats 3 --threads 2
"""

from __future__ import annotations

import time

import click
import torch

from tts_service.assets import ensure_assets
from tts_service.backends.onnx import OnnxBackend
from tts_service.backends.pytorch import TorchBackend
from tts_service.config import Settings
from tts_service.text.phonemes import Phonemizer
from tts_service.voices import VoiceStore

TEXTS = {
    "short": "Your EHR project sounds interesting and has the potential for a lot of impact.",
    "long": "The most famous early example stood at Alexandria, on the island of Pharos, and was "
    "finished around 280 BC. Ancient writers claimed that its fire could be seen from more than "
    "50 kilometres away, which is almost certainly an exaggeration.",
}


@click.command()
@click.option("--repeats", default=3, show_default=True)
@click.option("--threads", default=2, show_default=True, help="Intra-op threads of each backend.")
@click.option("--voice", default="af_heart", show_default=True)
def main(repeats: int, threads: int, voice: str) -> None:
    settings = Settings(torch_device="cpu", onnx_threads=threads, torch_threads=threads)
    files = ensure_assets(settings)
    fp32 = TorchBackend.from_settings(settings.model_copy(update={"torch_dtype": "float32"}), files)
    backends = {
        "onnx int8": OnnxBackend.from_settings(settings, files),
        "torch float32": fp32,
        "torch bfloat16": TorchBackend(fp32._model, torch.device("cpu"), torch.bfloat16),
    }
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


if __name__ == "__main__":
    main()
