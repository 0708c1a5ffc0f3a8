"""The streaming pipeline as stages, each wrapped around the one before:

- :mod:`~tts_service.pipeline.plan`: the lazy chunk plan, shared safely by worker threads;
- :mod:`~tts_service.pipeline.chunk`: one chunk's synthesis (model call, trim, pause, word
  spans), a function returning one value with its audio and its words;
- :mod:`~tts_service.pipeline.stream`: the look-ahead stream that hands chunks to the scheduler
  in reading order, with their urgency, and stops them when closed;
- :mod:`~tts_service.pipeline.encoded`: each chunk encoded as it comes, as items carrying their
  bytes and their words.
"""

from tts_service.pipeline.chunk import AudioChunk, Voicing, speech_bounds, synthesize_chunk
from tts_service.pipeline.plan import ChunkPlan, FedPlan, Plan
from tts_service.pipeline.stream import SpeechStream

__all__ = [
    "AudioChunk",
    "ChunkPlan",
    "FedPlan",
    "Plan",
    "SpeechStream",
    "Voicing",
    "speech_bounds",
    "synthesize_chunk",
]
