"""Windowed rendering against the whole chunk: what the listener hears when a chunk's audio is
made a window of frames at a time (``tts_service.windows``) instead of in one piece.

For each variant (context frames on each side of a window, crossfade overlap, the normalization
option) and each sentence, the int8 ONNX model's text stage runs once; the whole chunk is rendered
in one piece and as planned windows, joined by ``Joiner``. Prints, as Markdown, per variant:

- **log-mel distance** to the whole render: faster-whisper's ``FeatureExtractor`` (80 mel bands,
  16 kHz, log10 scale), both floored 60 dB below the whole render's loudest band: the mean
  absolute difference in dB over all frames and bands, and the worst 10 ms frame's mean over
  bands;
- **join jump**: the largest sample-to-sample step at (and across the crossfade of) a window join
  relative to the RMS of the 10 ms around it (as ``benchmarks/joins.py`` measures chunk joins),
  beside the same measure at the same places of the whole render;
- **click**: the energy above ``CLICK_HZ`` in the 2 ms around a join against the median of its
  neighbours (5–25 ms away on both sides; at least 1 % of the chunk's mean), the largest over
  joins, beside the same at that join of the whole render; a click shows as a spike that the
  whole render does not have;
- **transcripts**: how many sentences Whisper base hears exactly as it hears the whole render;
- **time**: the windows' total render time over the whole render's (same run, same machine).

Normalization options (the decoder's instance normalization sees only what a window renders):
``window`` (statistics from the window with its context, what ``OnnxBackend.render`` does) and
``wide-first`` (the first window, small for first audio, rendered with ``--wide-first`` frames
of context, the later ones with the variant's).

    python -m benchmarks.windows [--contexts 4,8,16,32,64] [--overlaps 0,1,2,4] [--first 12]
        [--growth 2] [--largest 96] [--limit N] [--no-whisper]
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial

import click
import numpy as np
from scipy import signal

from benchmarks.ear import load_whisper, resample_to_16k, words
from tts_service.assets import ensure_assets
from tts_service.backends import SAMPLE_RATE, SAMPLES_PER_FRAME, Prepared
from tts_service.backends.onnx import OnnxBackend
from tts_service.config import Settings
from tts_service.text.phonemes import Phonemizer
from tts_service.voices import VoiceStore
from tts_service.windows import Joiner, Window, plan_windows

SENTENCES = (
    "Hello there.",
    "Turn left at the next corner.",
    "What time does the last train leave tonight?",
    "The quick brown fox jumps over the lazy dog.",
    "I'm sorry, but I didn't catch that. Could you say it again?",
    "Please turn off the lights in the kitchen, then lock the front door.",
    "Reading a good book is a fine way to spend a quiet evening at home.",
    "The meeting has been moved to Thursday afternoon at three o'clock.",
    "She sells sea shells by the sea shore, and the shells she sells are surely sea shells.",
    "Wow! That was absolutely incredible; I've never seen anything like it.",
    "Your package was delivered this morning and left with a neighbour.",
    "Photosynthesis converts light energy into chemical energy stored in glucose.",
    "If it rains tomorrow, we'll stay inside and play board games instead.",
    "Seventeen small sparrows sat silently on the swaying summer branches.",
    "The temperature will drop sharply after midnight, so bring a warm coat.",
    "Do you want tea, coffee, or just a glass of water?",
    "He opened the door slowly, looked around, and stepped into the dark hallway.",
    "Artificial intelligence is changing how people write, search and learn.",
    "My grandmother grew tomatoes, beans and pumpkins in her tiny garden.",
    "Thanks for calling. All of our agents are busy, please stay on the line.",
    "The orchestra played the final movement with remarkable energy and precision.",
    "Keep your hands inside the vehicle until the ride comes to a complete stop.",
)
LONG = (
    "When the storm finally reached the harbour after three long days at sea, the captain "
    "ordered every sail down and sent the whole crew below, where we waited in silence while "
    "the black water rose over the rails and the old cook kept stirring his soup.",
    "The committee reviewed the proposal in detail, discussed the budget, the schedule and the "
    "risks of each option, and finally agreed that the new library would be built on the empty "
    "lot beside the river, with a reading garden, a children's wing and a small cafe.",
    "Long before the first settlers arrived, the valley was covered by a dense forest of oak and "
    "chestnut, crossed by narrow trails that the deer had worn into the soft ground over "
    "countless generations, and the only sounds were the wind in the leaves, the calls of the "
    "birds and the distant murmur of the river running down towards the sea.",
)
LOCAL_S = 0.01
"""The audio around a join that its step is compared with."""
CLICK_HZ = 6000
"""Clicks are broadband: what is above this frequency shows them over speech."""
CLICK_FRAME_S = 0.002
NEIGHBOURS_S = (0.005, 0.025)
SPIKE_FLOOR = 0.01
"""The neighbours' high-band energy counts as at least this share of the chunk's mean (silence
next to a join would make any sound there a spike)."""
MEL_RANGE_DB = 60.0
"""The log-mel distance counts what lies within this range below the whole render's loudest."""


@dataclass(frozen=True)
class Variant:
    context: int
    overlap: int
    normalization: str = "window"

    @property
    def label(self) -> str:
        return f"{self.normalization}, context {self.context}, overlap {self.overlap}"


@dataclass
class Result:
    mel_mean: list[float] = field(default_factory=list)
    mel_worst: list[float] = field(default_factory=list)
    jump: list[float] = field(default_factory=list)
    jump_whole: list[float] = field(default_factory=list)
    spike: list[float] = field(default_factory=list)
    spike_whole: list[float] = field(default_factory=list)
    same_transcript: int = 0
    heard: int = 0
    seconds: float = 0.0
    whole_seconds: float = 0.0
    first_seconds: list[float] = field(default_factory=list)


def render_windowed(
    render: Callable[[int, int, int], np.ndarray], windows: list[Window], variant: Variant,
    wide_first: int,
) -> tuple[np.ndarray, float, float]:  # fmt: skip
    """The joined audio, the total render time and the first window's."""
    joiner, parts, first, started = Joiner(), [], 0.0, time.perf_counter()
    for n, window in enumerate(windows):
        context = (
            wide_first if n == 0 and variant.normalization == "wide-first" else variant.context
        )
        parts.append(joiner.add(window, render(window.start, window.render_end, context)))
        if n == 0:
            first = time.perf_counter() - started
    return np.concatenate(parts), time.perf_counter() - started, first


def log_mel_db(audio: np.ndarray, extractor: object, floor: float | None = None) -> np.ndarray:
    """Whisper's log-mel features in dB (its scale is log10 / 4), at least ``floor``."""
    mel = 40.0 * extractor(resample_to_16k(audio, SAMPLE_RATE))  # type: ignore[operator]
    return mel if floor is None else np.maximum(mel, floor)  # type: ignore[no-any-return]


def _rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(x, dtype=np.float64)))) if x.size else 0.0


def join_jumps(audio: np.ndarray, joins: list[tuple[int, int]]) -> list[float]:
    """Per join (first sample of the next window, end of its crossfade): the largest step across
    it relative to the RMS of the 10 ms around it."""
    local = int(LOCAL_S * SAMPLE_RATE)
    out = []
    for begin, end in joins:
        lo, hi = max(1, begin - 1), min(audio.size, end + 2)
        step = float(np.max(np.abs(np.diff(audio[lo - 1 : hi]))))
        near = audio[max(0, begin - local // 2) : end + local // 2]
        out.append(step / max(_rms(near), 1e-4))
    return out


def join_spikes(audio: np.ndarray, joins: list[tuple[int, int]]) -> list[float]:
    """Per join: the high-band energy of the 2 ms at the join's start or its crossfade's end
    (the larger) over the median of the 2 ms frames 5–25 ms away on both sides."""
    sos = signal.butter(4, CLICK_HZ, "highpass", fs=SAMPLE_RATE, output="sos")
    high = signal.sosfiltfilt(sos, audio.astype(np.float64))
    half, (near, far) = (
        int(CLICK_FRAME_S * SAMPLE_RATE) // 2,
        (int(s * SAMPLE_RATE) for s in NEIGHBOURS_S),
    )

    def energy(centre: int) -> float:
        seg = high[max(0, centre - half) : centre + half]
        return float(np.mean(np.square(seg))) if seg.size else 0.0

    # Speech's own high band at its quietest is not the scale a click is measured against.
    quiet = max(float(np.mean(np.square(high))) * SPIKE_FLOOR, 1e-12)
    out = []
    for begin, end in joins:
        around = [
            energy(c)
            for offset in range(near, far, 2 * half)
            for c in (begin - offset, end + offset)
            if 0 <= c < audio.size
        ]
        floor = max(statistics.median(around) if around else 0.0, quiet)
        out.append(max(energy(begin), energy(end)) / floor)
    return out


def inner_steps(audio: np.ndarray) -> float:
    """99.9th percentile of |step| / RMS in the 10 ms windows of ``audio`` (an ordinary step)."""
    local = int(LOCAL_S * SAMPLE_RATE)
    ratios = [
        float(np.max(np.abs(np.diff(w)))) / _rms(w)
        for s in range(0, audio.size - local, local)
        if _rms(w := audio[s : s + local]) > 1e-3
    ]
    return float(np.percentile(ratios, 99.9)) if ratios else float("nan")


def transcribe(whisper: object, audio: np.ndarray) -> str:
    segments, _ = whisper.transcribe(  # type: ignore[attr-defined]
        resample_to_16k(audio, SAMPLE_RATE), language="en", beam_size=1, temperature=0.0
    )
    return " ".join(segment.text for segment in segments)


def _ints(text: str) -> list[int]:
    return [int(x) for x in text.split(",") if x]


@click.command()
@click.option("--contexts", default="4,8,16,32,64", show_default=True)
@click.option("--overlaps", default="0,1,2,4", show_default=True)
@click.option("--context-for-overlaps", default=16, show_default=True,
              help="The context the overlaps are measured at (the contexts at --overlap-for-contexts).")  # fmt: skip
@click.option("--overlap-for-contexts", default=2, show_default=True)
@click.option("--wide-first", default=64, show_default=True,
              help="The first window's context in the wide-first option (0: leave it out).")  # fmt: skip
@click.option("--first", default=12, show_default=True, help="First window, frames.")
@click.option("--growth", default=2.0, show_default=True)
@click.option("--largest", default=96, show_default=True, help="Largest window, frames.")
@click.option("--voice", default="af_heart", show_default=True)
@click.option("--limit", default=0, help="Only the first N sentences (and no long ones).")
@click.option("--no-whisper", is_flag=True, help="Leave out the transcripts (faster).")
def main(
    contexts: str, overlaps: str, context_for_overlaps: int, overlap_for_contexts: int,
    wide_first: int, first: int, growth: float, largest: int, voice: str, limit: int,
    no_whisper: bool,
) -> None:  # fmt: skip
    from faster_whisper.feature_extractor import FeatureExtractor

    settings = Settings(onnx_threads=2)
    files = ensure_assets(settings)
    backend = OnnxBackend.from_settings(settings, files)
    voice_ = VoiceStore.load(files.voices).resolve(voice)
    phonemizer = Phonemizer()
    extractor = FeatureExtractor()
    whisper = None if no_whisper else load_whisper()
    variants = [Variant(c, overlap_for_contexts) for c in _ints(contexts)]
    variants += [
        Variant(context_for_overlaps, o)
        for o in _ints(overlaps)
        if Variant(context_for_overlaps, o) not in variants
    ]
    if wide_first:
        variants.append(Variant(context_for_overlaps, overlap_for_contexts, "wide-first"))
    texts = SENTENCES[:limit] if limit else SENTENCES + LONG
    results = {v: Result() for v in variants}
    inner, phonemes = [], []
    for text in texts:
        tokens = phonemizer.tokenize(phonemizer.phonemize(text, voice_.lang))
        phonemes.append(len(tokens))
        style = voice_.style_for(len(tokens))
        prepared: Prepared = backend.prepare(tokens, style, 1.0)
        started = time.perf_counter()
        whole = backend.render(prepared, 0, prepared.frames)
        whole_seconds = time.perf_counter() - started
        inner.append(inner_steps(whole))
        whole_mel = log_mel_db(whole, extractor)
        floor = float(whole_mel.max()) - MEL_RANGE_DB
        whole_mel = np.maximum(whole_mel, floor)
        heard = transcribe(whisper, whole) if whisper is not None else ""
        for variant in variants:
            windows = plan_windows(prepared.frames, first, growth, largest, variant.overlap)
            joins = [
                (w.start * SAMPLES_PER_FRAME, w.start * SAMPLES_PER_FRAME
                 + (windows[n - 1].render_end - w.start) * SAMPLES_PER_FRAME)
                for n, w in enumerate(windows) if n
            ]  # fmt: skip
            audio, seconds, first_seconds = render_windowed(
                partial(backend.render, prepared), windows, variant, wide_first
            )
            result = results[variant]
            result.seconds += seconds
            result.whole_seconds += whole_seconds
            result.first_seconds.append(first_seconds)
            difference = np.abs(log_mel_db(audio, extractor, floor) - whole_mel)
            result.mel_mean.append(float(np.mean(difference)))
            result.mel_worst.append(float(np.max(np.mean(difference, axis=0))))
            if joins:
                result.jump += join_jumps(audio, joins)
                result.jump_whole += join_jumps(whole, joins)
                result.spike += join_spikes(audio, joins)
                result.spike_whole += join_spikes(whole, joins)
            if whisper is not None:
                result.heard += 1
                result.same_transcript += words(transcribe(whisper, audio)) == words(heard)
    click.echo(
        f"{len(texts)} texts of {min(phonemes)}–{max(phonemes)} phonemes, voice {voice}; "
        f"windows: first {first} frames, growth {growth}, largest {largest}; "
        f"{sum(len(r.jump) for r in results.values()) // len(results)} joins per variant; "
        f"ordinary step in the whole renders (99.9th pct): {statistics.median(inner):.2f}\n"
    )
    click.echo(
        "| option | log-mel dB mean (worst text) | worst frame dB (max) | join jump max "
        "(whole there) | click spike max (whole there) | same transcript | time / whole |"
        " first window s (median) |"
    )
    click.echo("|---|---|---|---|---|---|---|---|")
    for variant, r in results.items():
        worst_join = int(np.argmax(r.spike)) if r.spike else 0
        click.echo(
            f"| {variant.label} | {statistics.mean(r.mel_mean):.2f} ({max(r.mel_mean):.2f}) | "
            f"{max(r.mel_worst):.1f} | {max(r.jump, default=0):.2f} "
            f"({max(r.jump_whole, default=0):.2f}) | {max(r.spike, default=0):.1f} "
            f"({r.spike_whole[worst_join] if r.spike_whole else 0:.1f}) | "
            f"{r.same_transcript}/{r.heard} | {r.seconds / r.whole_seconds:.2f} | "
            f"{statistics.median(r.first_seconds):.3f} |"
        )


if __name__ == "__main__":
    main()
