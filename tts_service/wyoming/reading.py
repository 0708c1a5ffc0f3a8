"""Reading one Wyoming event from a client, bounded in size and in time (the ``wyoming``
library's reader takes any length and waits for ever)."""

from __future__ import annotations

import asyncio
import json

from wyoming.event import Event

from tts_service.errors import InvalidEventError, RequestTimeoutError


async def read_event(
    reader: asyncio.StreamReader,
    start: bytes,
    max_bytes: int,
    head_deadline: float,
    body_timeout: float,
) -> Event | None:
    """The event whose first bytes, ``start``, were read, or None if the client hung up in its
    middle. An ``InvalidEventError`` for what is not an event: a header line that is not a JSON
    object with a ``type`` (or longer than the reader's limit, 64 KiB), or data and payload
    longer than ``max_bytes`` together (the ``wyoming`` library's reader takes any length, and
    holds it all in memory). A ``RequestTimeoutError`` if the header line is not complete by
    ``head_deadline`` (the event loop's time), or the data and payload ``body_timeout`` seconds
    later."""
    try:
        async with asyncio.timeout_at(head_deadline):
            line = start + await reader.readline()
        header = json.loads(line)
    except TimeoutError:
        raise RequestTimeoutError(
            "An event's header line did not arrive in full in time."
        ) from None
    except ValueError:  # not JSON, or a line over the limit
        raise InvalidEventError("Not a Wyoming event: a JSON header line was expected.") from None
    if not isinstance(header, dict) or not isinstance(header.get("type"), str):
        raise InvalidEventError("Not a Wyoming event: its header has no type.")
    data_length, payload_length = header.get("data_length") or 0, header.get("payload_length") or 0
    lengths = (data_length, payload_length)
    if not all(type(n) is int and n >= 0 for n in lengths) or sum(lengths) > max_bytes:
        raise InvalidEventError(
            f"An event's data and payload may be at most {max_bytes} bytes together."
        )
    data = header.get("data") or {}
    try:
        async with asyncio.timeout(body_timeout):
            if data_length:
                data = {**data, **json.loads(await reader.readexactly(data_length))}
            payload = await reader.readexactly(payload_length) if payload_length else None
    except TimeoutError:
        raise RequestTimeoutError(
            f"An event's data and payload did not arrive in full within {body_timeout:g}s."
        ) from None
    except asyncio.IncompleteReadError:  # hung up in the middle of an event
        return None
    except (ValueError, TypeError):  # data not JSON, or not objects
        raise InvalidEventError("An event's data must be a JSON object.") from None
    if not isinstance(data, dict):
        raise InvalidEventError("An event's data must be a JSON object.")
    return Event(type=header["type"], data=data, payload=payload)
