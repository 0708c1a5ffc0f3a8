"""Kokoro's ONNX graph cut into the stages that streaming below the sentence needs.

The published model (and ``tts-service export-onnx``'s fp32 one) is one graph: tokens, style and
speed in, audio out. Kokoro inside it is two models: a **text stage** (BERT, the duration, F0
and energy predictors, the text encoder: a few percent of the time) that decides how long each
token is spoken and produces features aligned to the output's 600-sample frames, and a
**waveform stage** (the iSTFTNet decoder) that turns those into sound, frame-local apart from
two things: its instance normalization, computed over the whole input, and the harmonic
source's phase, a running sum over all frames before.

So the graph is cut in three, by tensor, with ``onnx.utils.Extractor``:

- ``text``: tokens, style, speed → durations, aligned text features (``asr``), F0, energy (N);
- ``source``: F0 → the harmonic source's running phase (a cumulative sum: microseconds);
- ``waveform``: asr, F0, N, style and that phase → audio, for any run of frames, so a window of
  a chunk gets the phase it has in the whole chunk, and the joins stay phase-continuous.

The cut is found by the graph's structure (the decoder's first Concat, the F0 and N
convolutions, the sine generator's CumSum), not by fixed names, so it fits both exports. The
stage graphs are written once into the models folder beside the optimized-graph cache, keyed by
the model file, and each is then loaded (and its optimized graph cached) like the whole model.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tts_service.config import Settings

logger = logging.getLogger(__name__)

STAGES = ("text", "source", "waveform")


class StageError(RuntimeError):
    """The graph is not Kokoro's as we know it: the cut points were not found."""


@dataclass(frozen=True)
class Cut:
    """The tensors where the graph is cut."""

    tokens: str
    durations: str
    asr: str
    """Text features aligned to frames: (1, channels, frames)."""
    f0: str
    """Pitch at twice the frame rate: (1, 2 × frames)."""
    n: str
    """Energy at twice the frame rate: (1, 2 × frames)."""
    phase: str
    """The sine generator's running sum: (1, 2 × frames, harmonics)."""
    audio: str


def find_cut(graph: object) -> Cut:
    """The cut points of a Kokoro graph (an ``onnx.GraphProto``)."""
    nodes = list(graph.node)  # type: ignore[attr-defined]
    produced = {out: node for node in nodes for out in node.output}
    inputs = [i.name for i in graph.input]  # type: ignore[attr-defined]
    outputs = [o.name for o in graph.output]  # type: ignore[attr-defined]

    def named(part: str, op: str | None = None) -> list:
        return [n for n in nodes if part in n.name and (op is None or n.op_type == op)]

    def source_of(tensor: str) -> str:
        """``tensor`` before the Unsqueeze (and dynamic quantization) that feeds a convolution."""
        node = produced.get(tensor)
        while node is not None and node.op_type in ("DynamicQuantizeLinear", "Unsqueeze"):
            tensor = node.input[0]
            node = produced.get(tensor)
        return tensor

    try:
        (concat,) = [
            n for n in named("decoder/Concat", "Concat") if n.name.endswith("decoder/Concat")
        ]
        (f0_conv,) = [n for n in nodes if "F0_conv/Conv" in n.name and n.op_type.startswith("Conv")]
        (n_conv,) = [n for n in nodes if "N_conv/Conv" in n.name and n.op_type.startswith("Conv")]
        (cumsum,) = named("sin_gen/CumSum", "CumSum")
    except ValueError as exc:
        raise StageError(f"not a Kokoro graph we can split ({exc})") from exc
    if "durations" in outputs:
        durations = "durations"
    else:  # the published export: the rounded, clipped predicted durations
        clips = [n for n in nodes if n.op_type == "Clip" and produced.get(n.input[0]) is not None
                 and produced[n.input[0]].op_type == "Round"]  # fmt: skip
        if len(clips) != 1:
            raise StageError("not a Kokoro graph we can split (no predicted durations)")
        durations = clips[0].output[0]
    tokens = "input_ids" if "input_ids" in inputs else "tokens"
    return Cut(
        tokens=tokens,
        durations=durations,
        asr=concat.input[0],
        f0=source_of(f0_conv.input[0]),
        n=source_of(n_conv.input[0]),
        phase=cumsum.output[0],
        audio=outputs[0],
    )


def extract(model_path: Path) -> tuple[Cut, dict[str, bytes]]:
    """Each stage's graph, serialized."""
    import onnx
    from google.protobuf.message import DecodeError

    try:
        model = onnx.load(str(model_path))
    except (DecodeError, OSError, ValueError) as exc:  # loading the model reports it
        raise StageError(f"cannot read {model_path} as an ONNX graph ({exc})") from exc
    cut = find_cut(model.graph)
    # The extractor types the new inputs and outputs from the graph's value infos; an export
    # that kept none for a cut tensor gets one (float, shape left to the runtime).
    known = {v.name for v in (*model.graph.value_info, *model.graph.input, *model.graph.output)}
    for name in (cut.asr, cut.f0, cut.n, cut.phase):
        if name not in known:
            model.graph.value_info.append(
                onnx.helper.make_tensor_value_info(name, onnx.TensorProto.FLOAT, None)
            )
    extractor = _Extractor(model)
    # The order of each stage's outputs is part of the cut (``OnnxBackend.load`` reads it back).
    stages = {
        "text": extractor.extract_model(
            [cut.tokens, "style", "speed"], [cut.durations, cut.asr, cut.f0, cut.n]
        ),
        "source": extractor.extract_model([cut.f0], [cut.phase]),
        "waveform": extractor.extract_model(
            [cut.asr, cut.f0, cut.n, "style", cut.phase], [cut.audio]
        ),
    }
    return cut, {name: stage.SerializeToString() for name, stage in stages.items()}


def _outer_names(node: object) -> set[str]:
    """Names a node's subgraphs (a Loop's or an If's bodies) take from the graph around them."""
    names: set[str] = set()
    for attribute in node.attribute:  # type: ignore[attr-defined]
        for graph in (
            (attribute.g, *attribute.graphs) if attribute.HasField("g") else attribute.graphs
        ):
            inside = {i.name for i in graph.input} | {t.name for t in graph.initializer}
            inside |= {out for n in graph.node for out in n.output}
            for n in graph.node:
                names |= {i for i in n.input if i and i not in inside} | _outer_names(n) - inside
    return names


def _Extractor(model: Any) -> Any:  # noqa: N802 - a class made on first use
    """``onnx.utils.Extractor`` that also follows what subgraphs use from the graph around them
    (the fp32 export has Loop and If nodes); the published model has none."""
    from onnx.utils import Extractor

    class SubgraphAware(Extractor):  # type: ignore[misc]
        def _dfs_search_reachable_nodes(
            self, node_output_name: str, graph_input_names: set[str], reachable: set[int]
        ) -> None:
            stack = [node_output_name]
            while stack:
                name = stack.pop()
                if name in graph_input_names or name not in self.outmap:
                    continue
                index = self.outmap[name]
                if index not in reachable:
                    reachable.add(index)
                    node = self.graph.node[index]
                    stack += [i for i in node.input if i] + sorted(_outer_names(node))

        def _collect_reachable_tensors(self, nodes: list) -> tuple[list, list]:
            names = {name for node in nodes for name in (*node.input, *node.output)}
            names |= {name for node in nodes for name in _outer_names(node)}
            initializer = [t for name, t in self.initializers.items() if name in names]
            value_info = [v for name, v in self.value_infos.items() if name in names]
            return initializer, value_info

    return SubgraphAware(model)


def prepare(settings: Settings, *, build: bool) -> None:
    """``BackendSpec.prepare``: ``fetch`` (``build``) splits the model now, so that an image
    with the model baked in carries its stages; serving builds any that are missing at load."""
    if build:
        from tts_service.assets import ensure_assets

        # A graph the split does not fit runs whole; loading says so.
        with contextlib.suppress(StageError):
            ensure_stages(ensure_assets(settings, fetch=False).model, settings.models_dir)


def stage_paths(model: Path, cache: Path) -> dict[str, Path]:
    """Where the stages of ``model`` are kept: keyed by the model file's path, size and mtime."""
    from tts_service.assets import copy_key

    key = "|".join((str(model.resolve()), copy_key(model)))
    digest = hashlib.sha256(key.encode()).hexdigest()[:16]
    return {name: cache / f".{model.stem}.{digest}.{name}.onnx" for name in STAGES}


def ensure_stages(model: Path, cache: Path) -> dict[str, Path | bytes]:
    """The stage graphs of ``model``: their files in ``cache`` (written now if missing), or, where
    ``cache`` cannot be written, the graphs themselves."""
    from tts_service.assets import AssetError, atomic_write
    from tts_service.backends.onnx import cache_problem, record_cached, remove_cached

    paths = stage_paths(model, cache)
    problems = {path: cache_problem(path) for path in paths.values() if path.is_file()}
    if len(problems) == len(paths) and not any(problems.values()):
        return dict(paths)
    for path, problem in problems.items():
        if problem:
            logger.warning("The cached model stage %s %s; rebuilding it", path, problem)
    _, graphs = extract(model)
    if not os.access(cache, os.W_OK):
        logger.info("Split %s into its stages in memory (%s is read-only)", model.name, cache)
        return dict(graphs)
    current = set(paths.values())
    for stale in cache.glob(f".{model.stem}.*.*.onnx"):  # an earlier model file's
        if stale not in current:
            remove_cached(stale)
    try:
        for name, path in paths.items():
            graph = graphs[name]
            atomic_write(path, lambda f, graph=graph: f.write(graph))  # type: ignore[misc]
            record_cached(path)
    except (OSError, AssetError) as exc:
        logger.warning(
            "Running without the model-stage cache: cannot save it in %s (%s)", cache, exc
        )
        for path in paths.values():  # a stage without the others is of no use
            remove_cached(path)
        return dict(graphs)
    logger.info("Split %s into its text and waveform stages (kept in %s)", model.name, cache)
    return dict(paths)
