"""``POST /v1/audio/captions``: word timestamps in, captions out, for callers that join the words
of several speech streams (the web player's long articles) and want the one cue grouping
(``tts_service.captions``) rather than their own."""

from __future__ import annotations

from typing import Any

import anyio
from fastapi import APIRouter
from fastapi.responses import Response

from tts_service.captions import CAPTION_FORMATS, MAX_CAPTION_WORDS, captions_text
from tts_service.schemas import CaptionsRequest, ErrorResponse

router = APIRouter(tags=["captions"])


def _error(description: str) -> dict[str, Any]:
    return {"model": ErrorResponse, "description": description}


CAPTIONS_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "The captions, as a file to save (Content-Disposition: attachment).",
        "content": {
            spec.media_type.split(";")[0]: {"schema": {"type": "string"}}
            for spec in CAPTION_FORMATS.values()
        },
    },
    400: _error(f"Invalid request: malformed JSON, an unknown format, an empty word, a time that "
                f"is negative, not finite or ends before it starts, words not in order of their "
                f"starts, or more than {MAX_CAPTION_WORDS} words."),
    401: _error("A key is required (TTS_API_KEY is set) and was missing or wrong."),
    413: _error("The request body is larger than TTS_MAX_REQUEST_BYTES."),
    "4XX": _error("Any other client error (unknown path, wrong method)."),
}  # fmt: skip


@router.post("/v1/audio/captions", response_class=Response, responses=CAPTIONS_RESPONSES)
async def create_captions(body: CaptionsRequest) -> Response:
    """Captions of timed words as WebVTT or SubRip: the cues the SSE `captions` option makes."""
    spec = CAPTION_FORMATS[body.format]
    # Some 200,000 words take a fraction of a second: off the event loop.
    text = await anyio.to_thread.run_sync(captions_text, body.words, body.format)
    return Response(
        text,
        media_type=spec.media_type,
        headers={"Content-Disposition": f'attachment; filename="captions.{spec.extension}"'},
    )
