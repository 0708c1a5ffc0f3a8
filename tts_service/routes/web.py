"""The web player: ``/`` serves its page, ``/player.js`` its script (an ES module that imports
the modules under ``/player/``, and the chart library under ``/vendor/``) and ``/style.css`` its
style.

Explicit routes rather than static files mounted at ``/``: every other path stays the API's, so
an unknown one is an OpenAI-shaped 404 whatever its method, and a known one asked with the wrong
method a 405 that names the right one.

The article reader beside it: ``/reader`` its page, ``/reader.js`` its script (importing the
modules under ``/reader/``, some of the player's, and the vendored ID3 writer under
``/vendor/``) and ``/reader.css``."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse

logger = logging.getLogger(__name__)

PLAYER_DIR = Path(__file__).resolve().parent.parent / "web"
"""The player's files, package data of ``tts_service`` (installed with it, wheel or editable)."""

PLAYER_MODULES = (
    "state.js", "element.js", "server.js", "paths.js", "mse.js", "web-audio.js", "blob.js",
    "live.js", "live-socket.js", "live-text.js", "timeline.js", "live-view.js", "shortcuts.js",
)  # fmt: skip
"""The ES modules under ``player/`` that ``player.js`` imports: what the paths share, the
server's lists, the choice of path, one module per playback path, live mode (streamed text over
the WebSocket: its turns, its connection, its text), then the live view (the run's timeline and
its chart) and the keyboard shortcuts."""

VENDORED = ("uplot/uPlot.esm.js", "uplot/uPlot.min.css")
"""The player's third-party files under ``vendor/``, unchanged (each folder's ``SOURCE.txt``
says where from): uPlot, which draws the live view."""

PLAYER_FILES = {
    "/": "index.html",
    **{f"/player/{name}": f"player/{name}" for name in PLAYER_MODULES},
    **{f"/vendor/{name}": f"vendor/{name}" for name in VENDORED},
    "/player.js": "player.js",
    "/style.css": "style.css",
}
"""URL → file; index.html refers to ``player.js`` and ``style.css`` by these names, and
``player.js`` to its modules."""


READER_MODULES = (
    "article.js", "align.js", "speech.js", "playback.js", "view.js", "saved.js", "export.js",
    "download.js",
)  # fmt: skip
"""The ES modules under ``reader/`` that ``reader.js`` imports: the article's chapters,
paragraphs, words and parts, the server's words placed on the page's, one part's request, the
playback that schedules parts back to back, the reading view, resume, the MP3 and captions, and
the download panel."""

READER_VENDORED = ("browser-id3-writer/browser-id3-writer.mjs",)
"""The reader's third-party files under ``vendor/``, unchanged (``SOURCE.txt`` says where
from): browser-id3-writer, which writes the chapters of its MP3 download."""

READER_FILES = {
    "/reader": "reader.html",
    "/reader.js": "reader.js",
    "/reader.css": "reader.css",
    **{f"/reader/{name}": f"reader/{name}" for name in READER_MODULES},
    **{f"/vendor/{name}": f"vendor/{name}" for name in READER_VENDORED},
}
"""URL → file for the article reader; ``reader.html`` refers to its files by these names."""


def player_router(directory: Path = PLAYER_DIR) -> APIRouter | None:
    """GET (and HEAD) routes for the player's files, and the reader's beside them; None, with
    one warning that says why, when any of the player's is missing (the API works without the
    player). Missing reader files leave the reader out, with one warning."""
    missing = _missing(directory, PLAYER_FILES)
    if missing:
        logger.warning(
            "The web player is not served: %s missing from %s (installed without the package's "
            "data files?); the API works without it.",
            missing, directory,
        )  # fmt: skip
        return None
    files = dict(PLAYER_FILES)
    if missing := _missing(directory, READER_FILES):
        logger.warning(
            "The article reader is not served: %s missing from %s; the player works without it.",
            missing, directory,
        )  # fmt: skip
    else:
        files.update(READER_FILES)
    router = APIRouter(include_in_schema=False)
    for url, name in files.items():
        router.add_api_route(url, _file(directory / name), methods=["GET", "HEAD"], name=name)
    logger.debug("Web player served from %s", directory)
    return router


def _missing(directory: Path, files: dict[str, str]) -> str:
    return ", ".join(name for name in files.values() if not (directory / name).is_file())


def _file(path: Path) -> Callable[[], Awaitable[FileResponse]]:
    async def serve_file() -> FileResponse:
        # Revalidated on every load, so a browser never keeps an old player after an upgrade.
        return FileResponse(path, headers={"Cache-Control": "no-cache"})

    return serve_file
