"""Benchmarks for any OpenAI-compatible ``/v1/audio/speech`` server (``python -m benchmarks.ttfa``)."""
