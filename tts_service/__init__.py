"""tts-service: an OpenAI-compatible text-to-speech server streaming Kokoro-82M sentence by sentence."""

__version__ = "0.1.0"
