"""The streaming pipeline as stages, each wrapped around the one before:

- :mod:`~tts_service.pipeline.plan`: the lazy chunk plan, shared safely by worker threads;
- :mod:`~tts_service.pipeline.chunk`: how a request's chunks are spoken, and the audio a
  stream sends (a chunk, or a window's piece of one);
- :mod:`~tts_service.pipeline.assembly`: one chunk's synthesis: its text stage, its windows,
  and the pieces they make (trim, fades, pause, word spans, loudness);
- :mod:`~tts_service.pipeline.stream`: the look-ahead stream that hands chunks to the scheduler
  in reading order, with their urgency, and stops them when closed;
- :mod:`~tts_service.pipeline.encoded`: each chunk encoded as it comes, as items carrying their
  bytes and their words.
"""

from tts_service.pipeline.assembly import synthesize_chunk
from tts_service.pipeline.chunk import AudioChunk, Voicing, WindowSizes, speech_bounds
from tts_service.pipeline.plan import ChunkPlan, FedPlan, Plan
from tts_service.pipeline.stream import SpeechStream

__all__ = [
    "AudioChunk",
    "ChunkPlan",
    "FedPlan",
    "Plan",
    "SpeechStream",
    "Voicing",
    "WindowSizes",
    "speech_bounds",
    "synthesize_chunk",
]
