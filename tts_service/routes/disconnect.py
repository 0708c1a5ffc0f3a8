"""Work a request does before its response starts (the first chunk, a whole file) is cancelled
as soon as the client hangs up, instead of running to its end for nobody.

A streamed response notices a hang-up itself once it is sending; before that, and for a
``stream: false`` reply that is sent only when complete, nothing else would: the route awaits the
work and, beside it, the request's next ASGI message, which after the body is the disconnect.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

from fastapi import Request

T = TypeVar("T")


class ClientGone(Exception):
    """The client hung up before its response started."""


async def _disconnected(request: Request) -> None:
    while (await request.receive())["type"] != "http.disconnect":
        pass  # after the body no other message comes: wait on


async def unless_disconnected(request: Request, work: Callable[[], Awaitable[T]]) -> T:
    """``await work()``; if the client disconnects first, cancel it, let it clean up, and raise
    ``ClientGone``. The work's own result or exception is returned or raised as it is."""
    job = asyncio.ensure_future(work())
    watcher = asyncio.ensure_future(_disconnected(request))
    try:
        await asyncio.wait({job, watcher}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        watcher.cancel()
        if not job.done():
            job.cancel()
            await asyncio.gather(job, return_exceptions=True)  # its clean-up runs to the end
    if job.cancelled():
        raise ClientGone
    return job.result()
