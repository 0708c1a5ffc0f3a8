"""Joins and loudness: what the listener hears where chunks meet, and how loud each chunk is.

Runs the real model in-process through the service's own planner and ``synthesize_chunk``, for
each voice, on a text made to have many joins (sentences grouped and cut, cuts at clauses and
between words), and treats every chunk twice from the same model output: **before** (the trim
with no fade, the model's own level) and **after** (fades at every cut edge, the stream's gain
of ``tts_service.audio.loudness.Leveller`` at ``--target``). Prints, as Markdown:

- per cut edge (where a chunk's audio starts or ends): the largest sample-to-sample jump at the
  edge relative to the RMS of the 10 ms of that chunk's audio next to it, and in dB relative to
  the chunk's RMS; the same ratio inside the chunks (99.9th percentile) says what an ordinary
  step is;
- per chunk: its integrated loudness (ITU-R BS.1770 with pyloudnorm; a chunk shorter than the
  400 ms gating block is measured as one block of its own length) and each stream's spread
  (largest minus smallest chunk);
- per voice: the whole stream's loudness, and the spread across voices;
- the cost per chunk of the measurement and the gain, next to the chunk's synthesis time.

    python -m benchmarks.joins [--voice af_heart --voice ...] [--target -23] [--group-phonemes 120]
        [--short]
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Iterator
from dataclasses import dataclass

import click
import numpy as np

from tts_service.assets import ensure_assets
from tts_service.audio.fades import fade_edges
from tts_service.audio.loudness import Leveller, integrated_loudness
from tts_service.backends import Backend, load_backend
from tts_service.chunking import Chunk
from tts_service.config import Settings
from tts_service.pipeline import Voicing, synthesize_chunk
from tts_service.synthesis import Synthesizer
from tts_service.text.phonemes import Phonemizer
from tts_service.voices import VoiceStore

TEXT = (
    "When the storm finally reached the harbour after three long days at sea the captain ordered "
    "every sail down and sent the whole crew below. Then we waited. Nobody spoke, nobody moved, "
    "and nobody dared to look at the black water rising over the rails; the old cook simply kept "
    "stirring his soup. We were home by morning."
)
SHORT_TEXT = "When the storm reached the harbour, the captain ordered every sail down. We waited."
VOICES = ("af_heart", "af_bella", "af_nicole", "am_michael", "am_adam", "bf_emma", "bm_george")
LOCAL_S = 0.01
"""The audio next to an edge that its jump is compared with."""


class _Once:
    """The backend, remembering its last answer: before and after treat the same model output."""

    def __init__(self, backend: Backend) -> None:
        self.backend = backend
        self.name = backend.name
        self.sample_rate = backend.sample_rate
        self.durations = False
        self.windowed = False  # whole chunks: the joins between chunks are what it measures
        self.seconds = 0.0
        self._last: tuple[tuple[int, ...], np.ndarray] | None = None

    def synthesize(self, tokens: list[int], style: np.ndarray, speed: float) -> np.ndarray:
        if self._last is None or self._last[0] != tuple(tokens):
            started = time.perf_counter()
            self._last = (tuple(tokens), self.backend.synthesize(tokens, style, speed))
            self.seconds = time.perf_counter() - started
        return self._last[1]

    def preempt(self, thread: int) -> bool:
        return False  # whole chunks only: nothing to stop


@dataclass
class Treated:
    chunk: Chunk
    speech: np.ndarray
    """The chunk's audio without its pause, at its gain."""
    pause: int
    loudness: float | None
    cost: float
    """Seconds spent on fades, loudness and gain."""


def treated(
    chunks: list[Chunk], voicing: Voicing, leveller: Leveller | None, once: _Once
) -> Iterator[tuple[Treated, float]]:
    rate = voicing.sample_rate
    for chunk in chunks:
        audio = synthesize_chunk(chunk, voicing)  # the model runs once per chunk (``_Once``)
        pause = int(chunk.pause * rate)
        samples = audio.samples
        cost = 0.0
        if leveller is not None:
            started = time.perf_counter()  # what the fix adds: fades, loudness (again), gain
            fade_edges(samples[: samples.size - pause], rate, voicing.fade)
            integrated_loudness(samples[: samples.size - pause], rate)
            samples = leveller.apply(samples, audio.loudness, samples.size / rate)
            cost = time.perf_counter() - started
        speech = samples[: samples.size - pause]
        measured = integrated_loudness(speech, rate)
        yield Treated(chunk, speech, pause, measured, cost), once.seconds


def edge_jumps(parts: list[Treated], rate: int) -> list[tuple[str, float, float]]:
    """(kind, jump / RMS of the 10 ms next to it, jump in dB relative to the chunk's RMS) of every
    cut edge of the stream (the zero before the stream and after it count as its neighbours)."""
    local = int(LOCAL_S * rate)
    result = []
    for n, part in enumerate(parts):
        speech = part.speech
        level = float(np.sqrt(np.mean(np.square(speech, dtype=np.float64))))
        before = parts[n - 1] if n else None
        # start edge: the sample before it is the previous chunk's last (no pause) or silence
        previous = before.speech[-1] if before is not None and before.pause == 0 else 0.0
        kind = "start" if before is None else _kind(before.chunk)
        result.append((kind, *_jump(speech[0] - previous, speech[:local], level)))
        following = parts[n + 1] if n + 1 < len(parts) else None
        nxt = following.speech[0] if following is not None and part.pause == 0 else 0.0
        kind = "end" if following is None else _kind(part.chunk)
        result.append((kind, *_jump(nxt - speech[-1], speech[-local:], level)))
    return result


def _kind(chunk: Chunk) -> str:
    """What the cut after ``chunk`` is: by its pause (the planner's ``Pauses``)."""
    return {0.0: "word"}.get(chunk.pause, "clause" if chunk.pause < 0.15 else "sentence")


def _jump(step: float, near: np.ndarray, level: float) -> tuple[float, float]:
    rms = float(np.sqrt(np.mean(np.square(near, dtype=np.float64)))) if near.size else 0.0
    step = abs(float(step))
    return step / max(rms, 1e-9), 20 * np.log10(max(step, 1e-9) / max(level, 1e-9))


def inner_steps(parts: list[Treated], rate: int) -> float:
    """The 99.9th percentile of |step| / local RMS inside the chunks (10 ms windows)."""
    local = int(LOCAL_S * rate)
    ratios = []
    for part in parts:
        speech = part.speech
        for start in range(local, speech.size - local, local):
            window = speech[start : start + local]
            rms = float(np.sqrt(np.mean(np.square(window, dtype=np.float64))))
            if rms > 1e-4:
                ratios.append(float(np.max(np.abs(np.diff(window)))) / rms)
    return float(np.percentile(ratios, 99.9)) if ratios else float("nan")


def stream_loudness(parts: list[Treated], rate: int) -> float | None:
    whole = np.concatenate([np.pad(p.speech, (0, p.pause)) for p in parts])
    return integrated_loudness(whole, rate)


@click.command()
@click.option("--voice", "voices", multiple=True, help=f"Voices (default: {', '.join(VOICES)}).")
@click.option("--target", default=None, type=float, help="LUFS (default: TTS_LOUDNESS_TARGET).")
@click.option(
    "--group-phonemes",
    default=120,
    show_default=True,
    help="The planner's chunk size (TTS_GROUP_PHONEMES): smaller chunks, more joins to measure.",
)
@click.option(
    "--short", is_flag=True, help="A one-sentence text and the first voice (a smoke run)."
)
def main(voices: tuple[str, ...], target: float | None, group_phonemes: int, short: bool) -> None:
    settings = Settings(warmup=False, group_phonemes=group_phonemes)
    files = ensure_assets(settings)
    backend = _Once(load_backend(settings, files))
    phonemizer = Phonemizer()
    synthesizer = Synthesizer(backend, phonemizer, settings)  # type: ignore[arg-type]
    store = VoiceStore.load(files.voices)
    voices = voices or (VOICES[:1] if short else VOICES)
    text = SHORT_TEXT if short else TEXT
    target = settings.loudness_target if target is None else target
    rate = backend.sample_rate
    modes = {
        "before": (0.0, None),
        "after": (None, Leveller(target, settings.loudness_chunk_correction)),
    }
    edges: dict[str, list[tuple[str, str, float, float]]] = {mode: [] for mode in modes}
    inner: dict[str, list[float]] = {mode: [] for mode in modes}
    rows = []
    totals: dict[str, dict[str, float | None]] = {mode: {} for mode in modes}
    costs: list[tuple[float, float]] = []
    for name in voices:
        voice = store.resolve(name)
        chunks = list(synthesizer.plan(text, voice))
        parts: dict[str, list[Treated]] = {}
        for mode, (fade, leveller) in modes.items():
            if leveller is not None:
                leveller = Leveller(leveller.target, leveller.max_chunk_db)  # a fresh stream
            voicing = Voicing(backend, phonemizer, voice, 1.0)  # type: ignore[arg-type]
            if fade is not None:  # before: no fade, nothing measured
                voicing = Voicing(
                    backend, phonemizer, voice, 1.0, fade=fade, measure_loudness=False
                )  # type: ignore[arg-type]
            parts[mode] = []
            for part, synthesis in treated(chunks, voicing, leveller, backend):
                parts[mode].append(part)
                if mode == "after":
                    costs.append((part.cost, synthesis))
            edges[mode] += [(name, *e) for e in edge_jumps(parts[mode], rate)]
            inner[mode].append(inner_steps(parts[mode], rate))
            totals[mode][name] = stream_loudness(parts[mode], rate)
        for n, chunk in enumerate(chunks):
            before, after = parts["before"][n], parts["after"][n]
            kind = "end" if n == len(chunks) - 1 else _kind(chunk)
            rows.append((name, n, kind, before.speech.size / rate, before.loudness, after.loudness))
    _report(rows, edges, inner, totals, costs, target, voices)


def _fmt(value: float | None) -> str:
    return "–" if value is None else f"{value:.1f}"


def _report(rows, edges, inner, totals, costs, target, voices) -> None:  # noqa: ANN001
    click.echo(f"Target: {target} LUFS; voices: {', '.join(voices)}\n")
    click.echo(
        "### Cut edges: largest jump / RMS of the 10 ms next to it, and in dB relative to the "
        "chunk's RMS\n"
    )
    click.echo(
        "| edge | edges | before: max ratio | after: max ratio | before: max dB | after: max dB |"
    )
    click.echo("|---|---|---|---|---|---|")
    for kind in ("start", "word", "clause", "sentence", "end"):
        b = [e for e in edges["before"] if e[1] == kind]
        a = [e for e in edges["after"] if e[1] == kind]
        if not b:
            continue
        click.echo(
            f"| {kind} | {len(b)} | {max(e[2] for e in b):.2f} | {max(e[2] for e in a):.2f} | "
            f"{max(e[3] for e in b):.0f} | {max(e[3] for e in a):.0f} |"
        )
    click.echo(
        f"\nOrdinary steps inside the chunks (99.9th percentile of step / RMS of 10 ms): "
        f"{max(inner['before']):.2f} (before), {max(inner['after']):.2f} (after)\n"
    )
    click.echo("### Loudness per chunk (LUFS)\n")
    click.echo("| voice | chunk | cut after | seconds | before | after |")
    click.echo("|---|---|---|---|---|---|")
    for name, n, kind, seconds, before, after in rows:
        click.echo(f"| {name} | {n} | {kind} | {seconds:.2f} | {_fmt(before)} | {_fmt(after)} |")
    click.echo("\n### Spread of chunk loudness within each stream (largest − smallest, LU)\n")
    click.echo("| voice | before | after | stream before | stream after |")
    click.echo("|---|---|---|---|---|")
    for name in voices:
        mine = [r for r in rows if r[0] == name]
        spread = {
            i: _spread([r[i] for r in mine if r[3] >= 0.4]) for i in (4, 5)
        }  # chunks of at least one gating block
        click.echo(
            f"| {name} | {_fmt(spread[4])} | {_fmt(spread[5])} | {_fmt(totals['before'][name])} "
            f"| {_fmt(totals['after'][name])} |"
        )
    across = {mode: _spread(list(totals[mode].values())) for mode in totals}
    click.echo(
        f"\nAcross voices (whole streams): spread {_fmt(across['before'])} LU before, "
        f"{_fmt(across['after'])} LU after."
    )
    spent = [c for c, _ in costs]
    ratio = [c / s for c, s in costs if s > 0]
    click.echo(
        f"\nCost of loudness and gain per chunk: median {statistics.median(spent) * 1000:.1f} ms, "
        f"largest {max(spent) * 1000:.1f} ms; {max(ratio) * 100:.1f} % of the chunk's synthesis "
        "at most."
    )


def _spread(values: list[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return max(known) - min(known) if known else None


if __name__ == "__main__":
    main()
