"""Windows against whole chunks, in-process, side by side in one run.

    python -m benchmarks.ttfa_windows --repeats 3

For the README's two-sentence phrase and the long first sentence (``opening``), each through the
service's own stream (planner, scheduler, assembly; no HTTP or encoding): time to the first piece
of audio and to the last, with windows (``TTS_WINDOWS``) on and off, and with the first-chunk
clause cut on (``TTS_FIRST_CHUNK_PHONEMES`` 100, the default) and off (510), and whole chunks with
the background worker at normal priority (``TTS_BACKGROUND_NICE=0``: the default with windows, 10
without), next to the model's whole time for the first sentence (one ``synthesize`` call). Then long form: the article's first
2,600 characters streamed with windows, against the same chunks synthesized back to back. Runs
alternate between the variants, so they share the machine's state; the figures are medians.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from pathlib import Path

import click

from benchmarks.ttfa import OPENING, SHORT
from tts_service.assets import ensure_assets
from tts_service.backends import load_backend
from tts_service.config import Settings
from tts_service.synthesis import Synthesizer
from tts_service.text import split_sentences
from tts_service.text.phonemes import Phonemizer
from tts_service.voices import VoiceStore

ARTICLE = (Path(__file__).parent / "texts" / "article.txt").read_text()[:2600]
VARIANTS = {
    "windows": {"windows": True},
    "windows, no clause cut": {"windows": True, "first_chunk_phonemes": 510},
    "whole chunks (TTS_WINDOWS=false)": {"windows": False},
    "whole chunks, no clause cut": {"windows": False, "first_chunk_phonemes": 510},
    "whole chunks, background nice 0": {"windows": False, "background_nice": 0},
}


async def _timed(synthesizer: Synthesizer, text: str, voice) -> tuple[float, float, float]:  # noqa: ANN001
    """Seconds to the first piece, to the last; seconds of audio."""
    started = time.perf_counter()
    stream = synthesizer.stream(text, voice, speed=1.0)
    first, samples = None, 0
    async for piece in stream:
        first = first or time.perf_counter() - started
        samples += piece.samples.size
    stream.close()
    return first or float("nan"), time.perf_counter() - started, samples / 24_000


@click.command()
@click.option("--repeats", default=3, show_default=True)
@click.option("--voice", "voice_id", default="af_heart", show_default=True)
@click.option("--long/--no-long", default=True, show_default=True, help="Also time long form.")
def main(repeats: int, voice_id: str, long: bool) -> None:
    settings = Settings(warmup=False)
    files = ensure_assets(settings)
    backend = load_backend(settings, files)
    phonemizer = Phonemizer()
    voice = VoiceStore.load(files.voices).resolve(voice_id)
    synthesizers = {
        name: Synthesizer(backend, phonemizer, settings.model_copy(update=update))
        for name, update in VARIANTS.items()
    }
    click.echo(f"backend {backend.name}, windowed {backend.windowed}, repeats {repeats}")
    for synthesizer in synthesizers.values():  # warm-up
        asyncio.run(_timed(synthesizer, "Warming up.", voice))
    for case, text in (("short", SHORT), ("opening", OPENING)):
        sentence = split_sentences(text)[0].text
        tokens = phonemizer.tokenize(phonemizer.phonemize(sentence, voice.lang))
        style = voice.style_for(len(tokens))
        model: list[float] = []
        figures: dict[str, list[tuple[float, float, float]]] = {n: [] for n in synthesizers}
        for _ in range(repeats):
            started = time.perf_counter()
            backend.synthesize(tokens, style, 1.0)
            model.append(time.perf_counter() - started)
            for name, synthesizer in synthesizers.items():
                figures[name].append(asyncio.run(_timed(synthesizer, text, voice)))
        whole = statistics.median(model)
        today = statistics.median(f[0] for f in figures["whole chunks (TTS_WINDOWS=false)"])
        click.echo(f"\n{case}: model's whole time for the first sentence "
                   f"({len(tokens)} tokens): {whole:.3f} s")  # fmt: skip
        click.echo("| variant | TTFA s | × first sentence | × today's TTFA | total s | audio s |")
        click.echo("|---|---|---|---|---|---|")
        for name, runs in figures.items():
            ttfa = statistics.median(r[0] for r in runs)
            total = statistics.median(r[1] for r in runs)
            click.echo(f"| {name} | {ttfa:.3f} | {ttfa / whole:.2f} | {ttfa / today:.2f} | "
                       f"{total:.3f} | {runs[0][2]:.2f} |")  # fmt: skip
    if long:
        _long_form(synthesizers["windows"], backend, phonemizer, voice)
    for synthesizer in synthesizers.values():
        synthesizer.shutdown()


def _long_form(synthesizer: Synthesizer, backend, phonemizer, voice) -> None:  # noqa: ANN001
    chunks = list(synthesizer.plan(ARTICLE, voice))
    started = time.perf_counter()
    audio = 0
    for chunk in chunks:
        tokens = phonemizer.tokenize(chunk.phonemes)
        audio += backend.synthesize(tokens, voice.style_for(len(tokens)), 1.0).size
    back_to_back = time.perf_counter() - started
    _, total, seconds = asyncio.run(_timed(synthesizer, ARTICLE, voice))
    click.echo(f"\nlong form ({len(ARTICLE)} chars, {len(chunks)} chunks): model back to back "
               f"{back_to_back:.2f} s ({len(ARTICLE) / back_to_back:.1f} chars/s), streamed in "
               f"windows {total:.2f} s ({len(ARTICLE) / total:.1f} chars/s): "
               f"{back_to_back / total:.2f} × the model's throughput")  # fmt: skip


if __name__ == "__main__":
    main()
