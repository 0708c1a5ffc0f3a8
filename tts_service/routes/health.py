from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST

from tts_service.voices import LANGUAGES

router = APIRouter(tags=["health"])


@router.get("/health")
async def health(request: Request) -> JSONResponse:
    """200 once the model is loaded and warmed up; 503 while loading or after a failed load."""
    service = request.app.state.service
    if service.ready:
        synthesizer = service.synthesizer
        langs = [lang for _, lang, _ in LANGUAGES.values()]
        return JSONResponse(
            {
                "status": "ok",
                "backend": synthesizer.backend.name,
                # Which grapheme-to-phoneme engine speaks each voice language (TTS_G2P).
                "g2p": synthesizer.phonemizer.engines(langs),
                # The phrase cache's size now, and whether its warm-up phrases are being made.
                "phrase_cache": {
                    **synthesizer.phrase_cache.stats(),
                    "warming": service.warming is not None and not service.warming.done(),
                },
            }
        )
    status = "error" if service.load_error else "loading"
    return JSONResponse({"status": status, "detail": service.load_error}, status_code=503)


@router.get("/metrics", response_class=Response)
async def metrics(request: Request) -> Response:
    """Prometheus metrics: TTFA, chunk synthesis and request histograms, real-time factor,
    active streams, queued chunks, requests by outcome."""
    return Response(request.app.state.service.metrics.render(), media_type=CONTENT_TYPE_LATEST)
