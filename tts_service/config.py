"""The one Settings object. Every field can be set from the environment with the prefix ``TTS_``."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from tts_service.backends import BackendName, warmup_by_default
from tts_service.policy import G2P_MB, replica_memory_mb
from tts_service.text.g2p import G2PChoice


def cpu_cores() -> int:
    """CPU cores this process may run on (respects CPU affinity, e.g. a container's cpuset)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def _default_models_dir() -> Path:
    """``$XDG_CACHE_HOME/tts-service/models``, by default ``~/.cache/tts-service/models``"""
    cache = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(cache) / "tts-service" / "models"


class Settings(BaseSettings):
    """Service configuration; ``TTS_<FIELD>`` environment variables override the defaults."""

    # The docstring under each field is its description (and docs/configuration.md's reference).
    model_config = SettingsConfigDict(
        env_prefix="TTS_", extra="ignore", use_attribute_docstrings=True
    )

    host: str = "127.0.0.1"
    """Address the HTTP server binds to (the container sets 0.0.0.0)."""

    port: int = Field(8880, ge=1, le=65535)
    """TCP port of the HTTP server."""

    wyoming_port: int | None = Field(None, ge=1, le=65535)
    """TCP port of Home Assistant's Wyoming protocol (``describe``, ``synthesize``), served on
    ``host`` next to the HTTP API; off unless set. It has no API key: expose it only to the
    network Home Assistant runs in."""

    models_dir: Path = Field(default_factory=_default_models_dir)
    """Cache folder for the assembled model and voice files (fetched once, then reused)."""

    model_path: Path | None = None
    """Use this ONNX model file instead of the cached int8 model (e.g. the fp32 kokoro-v1.0.onnx)."""

    voices_path: Path | None = None
    """Use this voices file (kokoro-onnx's ``voices-v1.0.bin`` npz layout) instead of the cache."""

    g2p: G2PChoice = "auto"
    """Grapheme-to-phoneme engine: ``auto`` = misaki (the G2Ps Kokoro was trained with) for
    American and British English, Mandarin and Japanese, espeak-ng for the other languages;
    ``espeak`` = espeak-ng for every language (less memory: misaki loads spaCy, and its
    dictionaries; espeak-ng reads Japanese kanji as Mandarin). See docs/g2p.md."""

    lexicon_dir: Path | None = None
    """Folder of the user's lexicon: ``<lang>.txt``, ``.tsv`` or ``.json`` files saying how to
    say particular words (phonemes or a respelling), re-read when they change (docs/g2p.md)."""

    backend: Literal["auto", BackendName] = "auto"
    """Inference backend: ``onnx`` (onnxruntime), ``torch`` (PyTorch, needs the ``torch`` extra) or
    ``auto`` (``torch`` when CUDA is available and the extra is installed, otherwise ``onnx``)."""

    torch_device: Literal["auto", "cuda", "cpu"] = "auto"
    """Device of the ``torch`` backend; ``auto`` picks CUDA when available, else the CPU."""

    torch_dtype: Literal["auto", "float32", "bfloat16", "float16"] = "auto"
    """Precision of the ``torch`` backend (half precision by autocast; the STFT stays float32);
    ``auto`` is float32 on the CPU and bfloat16 on CUDA."""

    torch_threads: int = Field(0, ge=0)
    """PyTorch intra-op threads on the CPU; 0 keeps PyTorch's default (every core)."""

    torch_batch_windows: int = Field(0, ge=0, le=64)
    """The most windows of one length the ``torch`` backend renders in one call, stacked along
    the batch dimension: those that reach it while a window of that length is rendering (from
    other workers, other streams) go together in the next call; a lone window never waits. 0: as
    many as there are workers on CUDA, where one call of several windows takes about the time
    of one; 1 (each alone) on the CPU, where it gains nothing."""

    torch_weights_path: Path | None = None
    """hexgrad's original ``kokoro-v1_0.pth`` for the ``torch`` backend, instead of the weights
    rebuilt from the int8 ONNX model (``tts-service convert``)."""

    torch_config_path: Path | None = None
    """The ``config.json`` that goes with ``TTS_TORCH_WEIGHTS_PATH`` (default: the Kokoro-82M v1.0
    config shipped inside kokoro-onnx)."""

    inference_workers: int = Field(1, ge=1, le=64)
    """Background worker threads running inference (every chunk but first ones while the urgent
    workers are busy), most urgent first. Each inference already uses ``onnx_threads`` cores, so
    one suits a CPU; raise it together with ``onnx_threads`` on machines with many cores."""

    urgent_workers: int = Field(1, ge=0, le=16)
    """Extra workers at normal OS priority that run only first chunks, so first audio never
    waits behind other requests' later chunks (0 disables them)."""

    background_nice: int | None = Field(None, ge=0, le=19)
    """OS niceness of the background workers: how strongly a first chunk, running at the same
    time, is preferred by the operating system (0 treats them alike). Unset: 0 where first chunks
    are rendered in windows (``TTS_WINDOWS`` on a split backend: a lowered worker loses to other
    programs on a busy host, so later sentences fell behind real time), 10 otherwise."""

    onnx_threads: int = Field(0, ge=0)
    """onnxruntime intra-op threads per inference; 0 divides the CPU cores among the background
    workers (all of them with the default single worker)."""

    lookahead_chunks: int = Field(0, ge=0, le=16)
    """How many chunks a stream synthesizes ahead of what it has sent (bounds work for slow
    clients); 0 means as many as there are background workers, so one stream can use them all."""

    playback_margin: float = Field(8.0, ge=0.0, le=120.0)
    """Seconds: a chunk that must start within this time, or its listener hears a gap, goes
    ahead of chunks that are already late. Larger protects long-form playback under load."""

    group_phonemes: int = Field(510, ge=50, le=510)
    """After the first chunk, consecutive sentences are grouped into chunks of up to this many
    phonemes: larger chunks cost less model time per phoneme (docs/performance.md, Long form),
    smaller ones let the rest of a conversational reply wait less behind a long-form chunk under
    mixed load (a running chunk is never stopped)."""

    max_chunk_seconds: float = Field(30.0, ge=10.0, le=120.0)
    """Longest audio one inference may make, in seconds: text spoken slowly (``speed`` below 1)
    goes in chunks of fewer phonemes, so that no chunk lasts longer (at speed 1, 30 s is about
    490 phonemes, near the model's own limit of 510). An inference's memory grows with its audio,
    so this bounds a replica's memory (docs/operations.md, Sizing)."""

    first_chunk_phonemes: int = Field(100, ge=20, le=510)
    """A first sentence longer than this many phonemes is cut after its first clause (or words),
    where chunks are synthesized whole; with windows (``TTS_WINDOWS``) a first sentence is not
    cut: its first window comes as soon either way (docs/performance.md, Windows)."""

    chunk_growth: float = Field(1.2, ge=1.0, le=10.0)
    """Each chunk may be at most this many times longer than the longest before it (sentences
    are cut between clauses to keep to it), or ``TTS_CHUNK_GROWTH_SPEED_SHARE`` times the model's
    measured speed in multiples of real time where that is more: keep it below the model's speed
    on the slowest machine it runs on (docs/performance.md, Backends side by side) so synthesis
    stays ahead of playback."""

    chunk_growth_speed_share: float = Field(0.6, ge=0.0, le=1.0)
    """Chunks grow by at most this share of the model's measured speed (a margin: part of every
    inference is edge silence that is trimmed away); 0 keeps the growth to ``TTS_CHUNK_GROWTH``
    alone, so the same text is always cut the same way."""

    windows: bool = True
    """Render a stream's first chunk in windows of frames (``tts_service.windows``) where the
    backend can (the model split into its text and waveform stages) and the chunk is long enough
    to gain: first audio leaves after a small first window instead of the whole first chunk, and
    a long first sentence need not be cut. While other streams are open, later chunks are
    rendered in windows of ``TTS_WINDOW_SHARED_FRAMES`` too: a first chunk stops the window
    running beside it (rendered again after it) and other streams' urgent work runs between
    windows. Windowed audio differs slightly from the whole chunk's, and a chunk rendered in
    windows costs more model time than in one piece, as the context around each window is
    rendered too, so a stream alone has its later chunks rendered whole (docs/performance.md,
    Windows, Windowed rendering and Sizing: the cost, the differences, the gate, the load)."""

    window_first_frames: int = Field(12, ge=1, le=512)
    """Frames of speech (25 ms each) in a chunk's first window, after its leading pad: smaller is
    sooner first audio, and a less faithful window (its normalization sees less of the chunk)."""

    window_growth: float = Field(2.0, ge=1.0, le=16.0)
    """Each later window is this many times the one before, up to ``TTS_WINDOW_LARGEST_FRAMES``."""

    window_largest_frames: int = Field(128, ge=1, le=1024)
    """Frames of the largest window of a first chunk: larger windows cost less context (rendered
    on each side and cropped) per frame; smaller ones are shorter units of work to schedule."""

    window_shared_frames: int = Field(256, ge=16, le=2048)
    """Frames of each window of a later chunk while other streams share the workers: the unit of
    work after which another stream's more urgent chunk can run (a first chunk does not wait:
    it stops the running window). Smaller windows mean shorter waits for replies' later
    sentences; larger ones cost less context per frame (docs/performance.md, Preemption at
    window granularity)."""

    max_input_chars: int = Field(4096, ge=1)
    """Longest accepted ``input`` in characters (OpenAI's limit is 4096)."""

    max_streams: int = Field(16, ge=1)
    """Most speech streams in progress at once, a hard cap above admission by capacity
    (``TTS_FIRST_AUDIO_WAIT``, ``TTS_MAX_PLAYBACK_GAP``); a request beyond it gets 429 with
    Retry-After (accepted streams always finish)."""

    max_queued_chunks: int = Field(32, ge=1)
    """Most chunks waiting for an inference worker, a hard cap like ``TTS_MAX_STREAMS``; while
    more wait, new requests get 429."""

    first_audio_wait: float | None = Field(None, gt=0.0, le=3600.0)
    """Seconds a new stream's first chunk may wait for the work ahead of it. A request is
    admitted only while the measured work ahead (other streams' first chunks, then the audio
    every admitted stream needs as fast as it plays, at the model's measured speed) lets it start
    within this time; otherwise it gets 429 at once, with a Retry-After computed from that work.
    Unset: one and a half times the measured time of a first chunk on the idle server, so that
    first audio comes within about two and a half times its idle time (three under the slowing of
    chunks that run together) on whatever machine the service runs on. An hour here
    and in ``TTS_MAX_PLAYBACK_GAP`` leaves admission to ``TTS_MAX_STREAMS`` alone."""

    max_playback_gap: float = Field(1.0, gt=0.0, le=3600.0)
    """Seconds an admitted stream's listener may wait for its next chunk because of other
    streams' work: admission refuses a new stream whose work would make any listener wait longer
    (docs/performance.md, Overload, measures the gaps)."""

    send_timeout: float = Field(30.0, gt=0.0, le=3600.0)
    """Seconds a client may accept no data at all (it stopped reading, or its network stalled)
    before the server gives up on it: the stream is cancelled, its queued inference dropped and
    the connection closed. Responses are sent in 16 KiB pieces, so a slow but steady reader is
    never cut."""

    send_buffer_bytes: int = Field(65536, ge=0, le=16 * 1024 * 1024)
    """Kernel send buffer of each connection, in bytes (Linux reserves twice this); 0 leaves it to
    the operating system, which grows it up to megabytes. A client that stops reading fills it,
    and the send timeout starts counting, after this much: 64 KiB lets a steady reader of the
    largest format (base64 pcm over SSE, 64 KB/s) take audio about 10 times faster than real
    time at 100 ms round trip."""

    header_timeout: float = Field(10.0, gt=0.0, le=3600.0)
    """Seconds a client has to send a request's head (request line and headers) once it
    connected, or once the next request on a kept-alive connection began: one that sent part of
    a head gets 408, a silent one is closed."""

    body_timeout: float = Field(30.0, gt=0.0, le=3600.0)
    """Seconds a client has to send a request's whole body after its head; then it gets 408 and
    the connection is closed (a 4096-character input is about 50 KB)."""

    keepalive_timeout: int = Field(5, ge=1, le=3600)
    """Seconds an idle kept-alive connection stays open between requests. Behind a proxy that
    keeps connections to the service, set the proxy's idle timeout lower."""

    max_connections: int = Field(256, ge=1)
    """Most connections open at once; a connection beyond it gets 503 with Retry-After to its
    request and is closed. Lowered at start, with a warning, to leave 64 files free under the
    process's open-file limit."""

    shutdown_grace: float = Field(10.0, ge=0.0, le=3600.0)
    """Seconds a stopping server (SIGTERM, Ctrl+C) gives streams in progress to finish, taking no
    new connections meanwhile; streams still running then are cut (an SSE stream with an
    ``error`` event), and the process is gone at most 3 s later, whatever still runs. An
    orchestrator's kill timeout must cover both (see Operations)."""

    max_request_bytes: int = Field(1_048_576, ge=1024)
    """Largest accepted request body in bytes; a larger one gets 413 before it is read (a
    4096-character input is at most about 50 KB of JSON). Also the largest Wyoming event (its
    data and payload), refused before it is read."""

    text_stall: float = Field(1.0, gt=0.0, le=60.0)
    """Seconds without new text, in the middle of a sentence of a streamed-text turn (the
    WebSocket, Wyoming's streaming form), after which what has arrived is spoken up to its last
    clause boundary: a language model that pauses is heard as far as it got."""

    max_buffered_text: int = Field(16384, ge=256, le=1_048_576)
    """Most characters of a streamed-text turn taken but not yet synthesized; text beyond it is
    refused (``buffer_full``) until synthesis catches up. Ten seconds of a language model writing
    at 100 tokens a second is about 4000 characters."""

    stream_idle_timeout: float = Field(120.0, gt=0.0, le=86400.0)
    """Seconds a streamed-text WebSocket may stay open with no message from its client while the
    server has nothing to send it (no turn being spoken); then it is closed. Also the longest
    pause between the events of a Wyoming streaming request still taking text (the keep-alive
    timeout does not apply there); then its connection is closed and its synthesis cancelled."""

    default_voice: str = "af_heart"
    """Voice used when a request gives no ``voice``; also the voice of the start-up warm-up."""

    sentence_pause: float = Field(0.2, ge=0.0, le=2.0)
    """Seconds of silence inserted after a chunk that ends a sentence."""

    clause_pause: float = Field(0.1, ge=0.0, le=2.0)
    """Seconds of silence after a chunk that ends at a clause (comma, semicolon, colon, dash)."""

    paragraph_pause: float = Field(0.45, ge=0.0, le=5.0)
    """Seconds of silence after a chunk that ends a paragraph (a blank line follows)."""

    loudness_target: float | None = Field(-23.0, ge=-40.0, le=-10.0)
    """Integrated loudness (ITU-R BS.1770, LUFS; -23 is EBU R 128's) every stream is brought
    towards, whatever the voice (the voices' own levels differ by about 6 dB): a gain per stream
    from its level so far, at most 20 dB either way, and never past a -1 dBFS peak. ``off`` keeps
    the model's own level; chunks are still evened (``loudness_chunk_correction``)."""

    loudness_chunk_correction: float = Field(3.0, ge=0.0, le=12.0)
    """The most (dB) a chunk's gain moves it towards the level of the stream's chunks so far, so
    that the chunks of one stream sound equally loud without flattening a real difference (0:
    chunks keep their own level). With ``loudness_target`` off and this 0, the audio is the
    model's own, but for a peak above -1 dBFS, which is brought down to it."""

    warmup: bool | None = None
    """Run one short synthesis at start-up, before reporting ready. Unset: only with the torch
    backend (CUDA's first inference sets up its kernels). With ONNX it delays ready and leaves
    the first request no faster (docs/performance.md, Start-up and memory)."""

    phrase_cache_bytes: int = Field(67_108_864, ge=0)
    """Bytes of the phrase cache (0: off): the model's audio of recently synthesized short
    chunks, so a phrase said again ("Sure.", a greeting) is served without inference, identical
    to the first time. Least recently used out first; chunks longer than 6 s or above 1/16 of
    the cache are not kept (docs/operations.md, Phrase cache). 64 MiB hold about 11 minutes of
    audio."""

    phrase_cache_warmup: Path | None = None
    """A UTF-8 text file of phrases synthesized into the phrase cache in the background once the
    model is ready (readiness does not wait for them): one phrase per line, optionally
    ``voice | phrase`` (the default voice otherwise); blank lines and lines starting with ``#``
    are skipped. A missing or unreadable file, or an unknown voice in it, stops start-up."""

    api_key: str | None = None
    """When set, every endpoint requires ``Authorization: Bearer <key>``; several keys may be
    given separated by commas. Health, metrics, discovery, the API docs and the web player stay
    open."""

    cors_origins: str = ""
    """Origins allowed to call the API from a browser, comma-separated (``*`` for any); empty
    allows none but the service's own origin (the built-in web player)."""

    log_level: Literal["debug", "info", "warning", "error"] = "info"
    """Log level of the service's own loggers (``debug`` adds one line per chunk); uvicorn and
    libraries log at ``info`` at most, and probes of ``/health`` and ``/metrics`` only at ``debug``."""

    @field_validator("loudness_target", mode="before")
    @classmethod
    def _off(cls, value: object) -> object:
        """``off`` (or an empty value) is no target."""
        if isinstance(value, str) and value.strip().lower() in {"", "off", "none"}:
            return None
        return value

    @field_validator("log_level", mode="before")
    @classmethod
    def _any_case(cls, level: object) -> object:
        """``DEBUG`` and ``Info`` are read as ``debug`` and ``info``, as Python's logging reads them."""
        return level.lower() if isinstance(level, str) else level

    @property
    def threads_per_inference(self) -> int:
        return self.onnx_threads or max(1, cpu_cores() // self.inference_workers)

    def warmup_for(self, backend_name: str) -> bool:
        return self.warmup if self.warmup is not None else warmup_by_default(backend_name)

    @property
    def parallel_inferences(self) -> int:
        """How many inferences run at once without slowing each other: the cores over each
        inference's threads, at most the workers."""
        workers = self.inference_workers + self.urgent_workers
        return max(1, min(workers, cpu_cores() // self.threads_per_inference))

    @property
    def lookahead(self) -> int:
        return self.lookahead_chunks or self.inference_workers

    @property
    def replica_memory_mb(self) -> float:
        """The most resident memory a replica with these settings may need (MB):
        ``tts_service.policy.replica_memory_mb`` of its workers, chunk length, streams, G2P and
        phrase cache."""
        return replica_memory_mb(
            inferences=self.inference_workers + self.urgent_workers,
            max_chunk_seconds=self.max_chunk_seconds,
            streams=self.max_streams,
            chunks_per_stream=self.lookahead + 1,
            g2p_mb=G2P_MB[self.g2p],
            phrase_cache_mb=self.phrase_cache_bytes / 1e6,
        )

    @property
    def api_keys(self) -> list[str]:
        return [key.strip() for key in (self.api_key or "").split(",") if key.strip()]

    @property
    def cors_origin_list(self) -> list[str]:
        return [origin.strip() for origin in self.cors_origins.split(",") if origin.strip()]
