"""A second OpenAI-compatible server to point the benchmark at: the usual kokoro-onnx server.

It does what most small Kokoro servers do: hand the whole input to kokoro-onnx's own
``Kokoro.create_stream`` (which batches up to 510 phonemes, so a short reply is one batch) and
send each batch as raw 16-bit PCM as it comes. It exists so the benchmark is shown working
against a server that is not ours, on the same machine and model files:

    python -m benchmarks.reference_server --port 8881 &
    python -m benchmarks.ttfa single --url http://127.0.0.1:8881 --case short --format pcm

Only ``response_format: pcm`` (and ``wav``-less clients) are served; no sentence streaming, no
scheduler: that is the point of the comparison.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import click
import numpy as np
import uvicorn
from fastapi import FastAPI
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel

from tts_service.assets import ensure_assets
from tts_service.config import Settings


class Speech(BaseModel):
    input: str
    voice: str = "af_heart"
    model: str = "kokoro"
    response_format: str = "pcm"
    speed: float = 1.0
    split_sentences: bool = True  # accepted for the benchmark's baseline mode; ignored


def create_app() -> FastAPI:
    from kokoro_onnx import Kokoro

    files = ensure_assets(Settings())
    kokoro = Kokoro(str(files.model), str(files.voices))
    app = FastAPI(title="kokoro-onnx reference server")

    @app.post("/v1/audio/speech", response_model=None)
    async def speech(request: Speech) -> StreamingResponse | JSONResponse:
        if request.response_format != "pcm":
            error = {"message": "only pcm", "type": "invalid_request_error", "param": None}
            return JSONResponse({"error": {**error, "code": None}}, status_code=400)

        async def pcm() -> AsyncIterator[bytes]:
            stream = kokoro.create_stream(request.input, request.voice, speed=request.speed)
            async for audio, _ in stream:
                yield (np.clip(audio, -1, 1) * 32767).astype("<i2").tobytes()

        return StreamingResponse(pcm(), media_type="audio/pcm")

    return app


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8881, show_default=True)
def main(host: str, port: int) -> None:
    """Serve kokoro-onnx's create_stream behind /v1/audio/speech."""
    uvicorn.run(create_app(), host=host, port=port, log_level="warning")


if __name__ == "__main__":
    main()
