"""Where a chunk's time goes, by sentence length: the model's text side (BERT, durations, F0 and
energy, the text encoder), the harmonic source, the decoder's frame-rate part (``encode``,
``decode``, ``asr_res``, the F0 and N convolutions) and the iSTFTNet generator; and what a first
window of a few frames costs against the whole chunk (what first audio costs when a chunk is
rendered in windows).

- int8 ONNX (``onnx``): the split model's ``text``, ``source`` and ``waveform`` stages, timed
  each; the waveform stage's time is divided between the frame-rate part and the generator in
  the proportion onnxruntime's profiler gives their nodes (grouped by name: ``/generator/`` or
  not), in separate profiled runs.
- PyTorch (``torch``): ``torch_stages``' functions, timed each.

The text is the article's opening, phonemized and cut to each length in tokens. Every figure is
the median of ``--repeats`` runs after one untimed run at that length; "whole" is the backend's
``synthesize`` (one call), "first window" is ``render`` of frames 0 to ``--first-window`` with
the backend's context, and "first audio" is the text side, the source and that window.

    python -m benchmarks.stages --repeats 3 --threads 2
    python -m benchmarks.stages --backend torch --device cuda   # bfloat16, as the backend runs
"""

from __future__ import annotations

import json
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click
import numpy as np

from tts_service.assets import ensure_assets
from tts_service.backends import SAMPLE_RATE, SAMPLES_PER_FRAME, WINDOW_CONTEXT_FRAMES
from tts_service.config import Settings
from tts_service.text.phonemes import Phonemizer
from tts_service.voices import VoiceStore

LENGTHS = (10, 25, 50, 100, 200, 350, 500)
ARTICLE = Path(__file__).parent / "texts" / "article.txt"
COLUMNS = ("text side", "source", "frame-rate part", "generator")


@dataclass
class Row:
    backend: str
    tokens: int
    frames: int
    parts: dict[str, float]
    whole: float
    first_window: float

    @property
    def first_audio(self) -> float:
        return self.parts["text side"] + self.parts["source"] + self.first_window


def article_tokens(phonemizer: Phonemizer, lang: str, count: int) -> list[int]:
    """At least ``count`` tokens of the article's opening, sentence by sentence."""
    tokens: list[int] = []
    paragraphs = [p for p in ARTICLE.read_text().split("\n\n")[1:] if p.strip()]
    for paragraph in paragraphs:
        for sentence in paragraph.replace(". ", ".\n").splitlines():
            tokens += phonemizer.tokenize(phonemizer.phonemize(sentence, lang) + " ")
            if len(tokens) >= count:
                return tokens
    raise click.ClickException(f"the article has fewer than {count} tokens")


def _nothing() -> None:
    """The CPU's synchronization: none."""


def median_time(
    run: Callable[[], object], repeats: int, sync: Callable[[], None] = _nothing
) -> float:
    """Median seconds of ``run`` over ``repeats`` calls, after one untimed call."""
    run()
    sync()
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        run()
        sync()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def load(name: str, settings: Settings) -> Any:
    """The backend ``name`` as the service loads it."""
    files = ensure_assets(settings)
    if name == "torch":
        from tts_service.backends.pytorch import TorchBackend

        return TorchBackend.from_settings(settings, files)
    from tts_service.backends.onnx import OnnxBackend

    backend = OnnxBackend.from_settings(settings, files)
    if backend._cut is None:
        raise click.ClickException(f"{files.model} cannot be split into stages")
    return backend


def label(backend: Any) -> str:
    if backend.name == "torch":
        return f"torch {backend.device.type} {str(backend.dtype).removeprefix('torch.')}"
    return "onnx int8"


def synchronizer(backend: Any) -> Callable[[], None]:
    """What waits for the backend's queued work (CUDA runs asynchronously)."""
    if backend.name == "torch" and backend.device.type == "cuda":
        import torch

        return torch.cuda.synchronize  # type: ignore[no-any-return]
    return _nothing


def onnx_rows(
    backend: Any, settings: Settings, lengths: list[int], token_source: list[int],
    style_for: Any, repeats: int, first_window: int,
) -> Iterator[Row]:  # fmt: skip
    with tempfile.TemporaryDirectory() as profiles:
        for length in lengths:
            tokens, style = token_source[:length], style_for(length)
            profiled = _profiled_waveform(settings, ensure_assets(settings).model, Path(profiles))
            yield _onnx_row(backend, profiled, tokens, style, repeats, first_window)


def _profiled_waveform(settings: Settings, model: Path, folder: Path) -> Any:
    """A session of the waveform stage that profiles its runs (one profile per session)."""
    import onnxruntime as ort

    from tts_service.backends.onnx_stages import ensure_stages

    options = ort.SessionOptions()
    options.intra_op_num_threads = settings.threads_per_inference
    options.enable_profiling = True
    options.profile_file_prefix = str(folder / "waveform")
    graph = ensure_stages(model, settings.models_dir)["waveform"]
    source = str(graph) if isinstance(graph, Path) else graph
    return ort.InferenceSession(source, options, providers=["CPUExecutionProvider"])


def _onnx_row(
    backend: Any, profiled: Any, tokens: list[int], style: np.ndarray, repeats: int,
    first_window: int,
) -> Row:  # fmt: skip
    cut, sessions = backend._cut, backend._sessions
    inputs = backend._inputs(tokens, style, 1.0)
    text = [cut.durations, cut.asr, cut.f0, cut.n]
    durations, asr, f0, n = sessions["text"].run(text, inputs)
    (phase,) = sessions["source"].run([cut.phase], {cut.f0: f0})
    feeds = {cut.asr: asr, cut.f0: f0, cut.n: n, "style": inputs["style"], cut.phase: phase}
    times = {
        "text side": median_time(lambda: sessions["text"].run(text, inputs), repeats),
        "source": median_time(lambda: sessions["source"].run([cut.phase], {cut.f0: f0}), repeats),
    }
    waveform = median_time(lambda: sessions["waveform"].run([cut.audio], feeds), repeats)
    for _ in range(repeats):
        profiled.run([cut.audio], feeds)
    generator_share = _generator_share(profiled.end_profiling())
    times["frame-rate part"] = waveform * (1 - generator_share)
    times["generator"] = waveform * generator_share
    prepared = backend.prepare(tokens, style, 1.0)
    window = min(first_window, prepared.frames)
    return Row(
        label(backend), len(tokens), int(np.asarray(durations).sum()), times,
        median_time(lambda: backend.synthesize(tokens, style, 1.0), repeats),
        median_time(lambda: backend.render(prepared, 0, window), repeats),
    )  # fmt: skip


def _generator_share(profile: str) -> float:
    """The generator's share of the node time in an onnxruntime profile; the file is removed."""
    path = Path(profile)
    events = json.loads(path.read_text())
    path.unlink()
    nodes = [e for e in events if e.get("cat") == "Node" and e["name"].endswith("_kernel_time")]
    total = sum(e["dur"] for e in nodes)
    generator = sum(e["dur"] for e in nodes if "/generator/" in e["name"])
    return generator / total if total else 0.0


def torch_rows(
    backend: Any, settings: Settings, lengths: list[int], token_source: list[int],
    style_for: Any, repeats: int, first_window: int,
) -> Iterator[Row]:  # fmt: skip
    for length in lengths:
        yield _torch_row(backend, token_source[:length], style_for(length), repeats, first_window)


def _torch_row(
    backend: Any, tokens: list[int], style: np.ndarray, repeats: int, first_window: int
) -> Row:
    from tts_service.backends import torch_stages

    model, generator = backend._model, backend._model.decoder.generator
    sync = synchronizer(backend)
    with backend._running():
        ids, ref = backend._inputs(tokens, style)
        s = ref[:, :128]
        durations, asr, f0, n = torch_stages.text_stage(model, ids, ref, 1.0)
        source = torch_stages.harmonic_source(generator, f0)
        x = torch_stages.frame_rate_part(model.decoder, asr, f0, n, s)
        times = {
            "text side": median_time(
                lambda: torch_stages.text_stage(model, ids, ref, 1.0), repeats, sync
            ),
            "source": median_time(
                lambda: torch_stages.harmonic_source(generator, f0), repeats, sync
            ),
            "frame-rate part": median_time(
                lambda: torch_stages.frame_rate_part(model.decoder, asr, f0, n, s), repeats, sync
            ),
            "generator": median_time(
                lambda: torch_stages.generate(generator, x, s, source), repeats, sync
            ),
        }
    prepared = backend.prepare(tokens, style, 1.0)
    window = min(first_window, prepared.frames)
    return Row(
        label(backend), len(tokens), int(durations.sum()), times,
        median_time(lambda: backend.synthesize(tokens, style, 1.0), repeats, sync),
        median_time(lambda: backend.render(prepared, 0, window), repeats, sync),
    )  # fmt: skip


HEADER = (
    "| backend | phonemes | audio s | "
    + " | ".join(f"{c} s" for c in COLUMNS)
    + " | sum s | whole s | first window s | first audio s | first audio / whole |"
)
RULE = "|---" * (len(COLUMNS) + 8) + "|"


def table_row(row: Row) -> str:
    parts = " | ".join(f"{row.parts[c]:.3f}" for c in COLUMNS)
    return (
        f"| {row.backend} | {row.tokens} | {row.frames * SAMPLES_PER_FRAME / SAMPLE_RATE:.2f} "
        f"| {parts} | {sum(row.parts.values()):.3f} | {row.whole:.3f} "
        f"| {row.first_window:.3f} | {row.first_audio:.3f} | {row.first_audio / row.whole:.2f} |"
    )


def streams_row(
    backend: Any, tokens: list[int], style: np.ndarray, streams: int, repeats: int,
    first_window: int,
) -> str:  # fmt: skip
    """The first windows of ``streams`` chunks rendered one after another, then at once from a
    thread each (on CUDA each thread has its own stream), then, on the torch backend, stacked in
    one call (``render_many``, what ``TTS_TORCH_BATCH_WINDOWS`` does for windows that meet)."""
    prepared = [backend.prepare(tokens, style, 1.0) for _ in range(streams)]
    window = min(first_window, prepared[0].frames)
    sync = synchronizer(backend)

    def first(chunk: Any) -> np.ndarray:
        return backend.render(chunk, 0, window)  # type: ignore[no-any-return]

    serial = median_time(lambda: [first(chunk) for chunk in prepared], repeats, sync)
    with ThreadPoolExecutor(streams) as pool:
        together = median_time(lambda: list(pool.map(first, prepared)), repeats, sync)
    if hasattr(backend, "render_many"):
        hi = min(prepared[0].frames, window + WINDOW_CONTEXT_FRAMES)
        one_call = median_time(
            lambda: backend.render_many([(chunk, 0, hi) for chunk in prepared]), repeats, sync
        )
        batched = f"{one_call:.3f} | {one_call / serial:.2f}"
    else:
        batched = "— | —"
    return (
        f"| {label(backend)} | {streams} | {len(tokens)} | {serial:.3f} | {together:.3f} "
        f"| {together / serial:.2f} | {batched} |"
    )


@click.command()
@click.option("--lengths", default=",".join(map(str, LENGTHS)), show_default=True,
              help="Chunk lengths in phoneme tokens (at most 510).")  # fmt: skip
@click.option("--repeats", default=3, show_default=True)
@click.option("--threads", default=2, show_default=True, help="Intra-op threads of each backend.")
@click.option("--backend", "backends", multiple=True, type=click.Choice(["onnx", "torch"]),
              default=("onnx", "torch"), show_default=True)  # fmt: skip
@click.option("--device", default="cpu", show_default=True, help="The torch backend's device.")
@click.option("--dtype", default="auto", show_default=True,
              help="The torch backend's dtype (auto: float32 on the CPU, bfloat16 on CUDA).")  # fmt: skip
@click.option("--first-window", default=15, show_default=True, help="Frames of the first window.")
@click.option("--voice", default="af_heart", show_default=True)
@click.option("--streams", default=0, show_default=True,
              help="Also time the first windows of this many streams at once (from 2).")  # fmt: skip
def main(
    lengths: str, repeats: int, threads: int, backends: tuple[str, ...], device: str, dtype: str,
    first_window: int, voice: str, streams: int,
) -> None:  # fmt: skip
    counts = [int(n) for n in lengths.split(",")]
    settings = Settings(onnx_threads=threads, torch_threads=threads, torch_device=device,
                        torch_dtype=dtype)  # fmt: skip
    voices = VoiceStore.load(ensure_assets(settings).voices).resolve(voice)
    phonemizer = Phonemizer()
    token_source = article_tokens(phonemizer, voices.lang, max(counts))
    click.echo(f"{repeats} runs each (median), {threads} threads, first window {first_window} "
               f"frames ({first_window * SAMPLES_PER_FRAME / SAMPLE_RATE:.2f} s)\n")  # fmt: skip
    click.echo(HEADER)
    click.echo(RULE)
    loaded = {name: load(name, settings) for name in backends}
    for name, backend in loaded.items():
        make = onnx_rows if name == "onnx" else torch_rows
        rows = make(backend, settings, counts, token_source, voices.style_for, repeats,
                    first_window)  # fmt: skip
        for row in rows:
            click.echo(table_row(row))  # each as it is measured: a long run shows progress
    if streams > 1:
        length = min(100, max(counts))
        click.echo(f"\nFirst windows of {streams} streams ({length} phonemes each), one after "
                   "another, from a thread each, and stacked in one call (torch)\n")  # fmt: skip
        click.echo("| backend | streams | phonemes | one after another s | at once s | ratio "
                   "| one call s | ratio |")  # fmt: skip
        click.echo("|---|---|---|---|---|---|---|---|")
        for backend in loaded.values():
            click.echo(streams_row(backend, token_source[:length], voices.style_for(length),
                                   streams, repeats, first_window))  # fmt: skip


if __name__ == "__main__":
    main()
