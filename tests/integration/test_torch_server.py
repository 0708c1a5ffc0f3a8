"""The full server with ``TTS_BACKEND=torch`` on the CPU passes the ONNX server's API tests.

The test functions are the very ones of ``test_streaming.py`` and ``test_clients.py``, collected
again here against a server that runs the PyTorch backend (this module's ``server`` fixture).
Left out to keep the suite short: tests that exercise no backend code beyond what these do (the
400 table, the SDK's per-format calls, which ``test_every_format_streams_decodable_speech``
covers), and ``test_first_audio_arrives_before_second_sentence_is_synthesized``, which expects two
chunks where main's chunker now plans four (it fails on the ONNX server too). ``TTS_TEST_BACKEND=torch python -m pytest tests/integration`` runs every integration
test against a torch server.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.integration.conftest import RunningServer, start_server, stop_server
from tests.integration.test_clients import (  # noqa: F401 - collected again, against torch
    test_sdk_raises_bad_request_with_our_message,
    test_sse_stream_sends_deltas_then_done_with_usage,
)
from tests.integration.test_streaming import (  # noqa: F401 - collected again, against torch
    test_discovery_lists_models_and_all_54_voices,
    test_every_format_streams_decodable_speech,
    test_official_openai_client_streams_speech,
    test_speed_changes_duration,
    test_stream_false_returns_the_whole_file_with_content_length,
)
from tts_service.config import Settings


@pytest.fixture(scope="module")
def server(
    model_settings: Settings, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningServer]:
    running = start_server(
        tmp_path_factory.mktemp("torch-server"), {"TTS_BACKEND": "torch", "TTS_TORCH_DEVICE": "cpu"}
    )
    assert "Kokoro on PyTorch" in running.log()  # the torch backend, not a silent fallback
    yield running
    stop_server(running)
