"""Prometheus metrics, one registry per app (nothing registered at import)."""

from __future__ import annotations

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    ProcessCollector,
    generate_latest,
)

_LATENCY_BUCKETS = (0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0, 30.0)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        # process_resident_memory_bytes, process_open_fds, process_cpu_seconds_total (Linux).
        ProcessCollector(registry=r)
        self.ttfa = Histogram(
            "tts_time_to_first_audio_seconds", "Request start to first audio bytes sent.",
            buckets=_LATENCY_BUCKETS, registry=r,
        )  # fmt: skip
        self.chunk_synthesis = Histogram(
            "tts_chunk_synthesis_seconds", "Phonemize + synthesize time of one chunk.",
            buckets=_LATENCY_BUCKETS, registry=r,
        )  # fmt: skip
        self.request_duration = Histogram(
            "tts_request_duration_seconds", "Whole speech request, first byte to last.",
            buckets=_LATENCY_BUCKETS, registry=r,
        )  # fmt: skip
        self.real_time_factor = Histogram(
            "tts_real_time_factor", "Wall seconds per audio second of a finished request.",
            buckets=(0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 1.5, 2.0, 5.0), registry=r,
        )  # fmt: skip
        self.requests = Counter(
            "tts_speech_requests", "Speech streams by outcome.", ["outcome"], registry=r
        )
        self.audio_seconds = Counter(
            "tts_audio_seconds", "Seconds of audio synthesized.", registry=r
        )
        self.active_streams = Gauge("tts_active_streams", "Streams being sent now.", registry=r)
        self.errors = Counter(
            "tts_errors", "Error responses by HTTP status, OpenAI error type and code.",
            ["status", "type", "code"], registry=r,
        )  # fmt: skip
        self.rejected_requests = Counter(
            "tts_rejected_requests",
            "Requests refused before any synthesis (bad input, auth, size, overload, not ready), "
            "by reason (the error code).",
            ["reason"], registry=r,
        )  # fmt: skip
        self.admission_refusals = Counter(
            "tts_admission_refusals",
            "New streams refused with 429, by the limit they would have broken: max_streams, "
            "max_queued_chunks (the hard caps), first_audio (its first chunk would wait longer "
            "than TTS_FIRST_AUDIO_WAIT), playback (an admitted listener would wait longer than "
            "TTS_MAX_PLAYBACK_GAP).",
            ["reason"], registry=r,
        )  # fmt: skip
        self.cancelled_streams = Counter(
            "tts_cancelled_streams",
            "Streams cut short after they started, by reason: client_disconnected, send_timeout "
            "(the client accepted no data for TTS_SEND_TIMEOUT), shutdown (still running when "
            "the shutdown grace period ended), cleared (a streamed-text turn stopped by its "
            "client's turn.clear).",
            ["reason"], registry=r,
        )  # fmt: skip
        self.queued_chunks = Gauge(
            "tts_queued_chunks", "Chunks submitted to the inference workers and not yet sent.",
            registry=r,
        )  # fmt: skip

        self.preempted_windows = Counter(
            "tts_preempted_windows",
            "Windows stopped while rendering because a first chunk started, and rendered again.",
            registry=r,
        )
        self.cancelled_chunks = Counter(
            "tts_cancelled_chunks",
            "Chunks dropped before their synthesis started, because their stream was closed "
            "(hang-up, barge-in, timeout).",
            registry=r,
        )
        self.text_stream_connections = Gauge(
            "tts_text_stream_connections",
            "Open WebSocket connections for streamed text (/v1/audio/speech/stream).",
            registry=r,
        )
        self.text_stream_turns = Counter(
            "tts_text_stream_turns",
            "Streamed-text turns ended, by status: completed, cleared, failed.",
            ["status"], registry=r,
        )  # fmt: skip
        self.text_stream_refused = Counter(
            "tts_text_stream_refused_messages",
            "Streamed-text messages refused with an error event, by error code (invalid_message, "
            "buffer_full, unknown_turn, no_turn, turn_in_progress, ...).",
            ["code"], registry=r,
        )  # fmt: skip

        self.phrase_cache_hits = Counter(
            "tts_phrase_cache_hits",
            "Chunks served from the phrase cache, without inference (TTS_PHRASE_CACHE_BYTES).",
            registry=r,
        )
        self.phrase_cache_misses = Counter(
            "tts_phrase_cache_misses",
            "Chunks looked up in the phrase cache and synthesized (not there, or there without "
            "the durations word timestamps need).",
            registry=r,
        )
        self.phrase_cache_stores = Counter(
            "tts_phrase_cache_stores",
            "Complete chunks kept in the phrase cache (short ones only: policy.caches_chunk).",
            registry=r,
        )
        self.phrase_cache_evictions = Counter(
            "tts_phrase_cache_evictions",
            "Chunks pushed out of the phrase cache, least recently used first, to keep it "
            "within TTS_PHRASE_CACHE_BYTES.",
            registry=r,
        )
        self.phrase_cache_bytes = Gauge(
            "tts_phrase_cache_bytes", "Bytes of audio the phrase cache holds now.", registry=r
        )
        self.phrase_cache_entries = Gauge(
            "tts_phrase_cache_entries", "Chunks the phrase cache holds now.", registry=r
        )

    def count_error(self, status: int, error_type: str, code: str | None) -> None:
        self.errors.labels(str(status), error_type, code or "").inc()
        if status < 500 or status == 503:
            self.rejected_requests.labels(code or error_type).inc()

    def render(self) -> bytes:
        return generate_latest(self.registry)
