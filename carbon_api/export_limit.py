"""A per-caller limit on concurrent full-year exports (429 past it).

A full-year export streams every emission row of a type and year on one database connection
for as long as the client reads: a script that opens many at once would hold the API's
connection pool. Each caller (token name) may have ``CARBON_EXPORT_CONCURRENCY`` of them in
flight per API process; the next one answers 429 with ``Retry-After``. The slot is given back
when the stream ends, fails or the client goes away (and, as a last resort, when the response
object is collected).
"""

from __future__ import annotations

import threading
import weakref
from collections import Counter
from collections.abc import AsyncIterable, AsyncIterator, Callable
from typing import Any

from fastapi import HTTPException
from fastapi.responses import StreamingResponse

RETRY_AFTER_SECONDS = 5


class ExportSlots:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._active: Counter[str] = Counter()

    def active(self, caller: str) -> int:
        with self._lock:
            return self._active[caller]

    def acquire(self, caller: str, limit: int) -> Callable[[], None] | None:
        """A release function (safe to call more than once), or None when ``caller``
        already has ``limit`` exports in flight."""
        with self._lock:
            if self._active[caller] >= limit:
                return None
            self._active[caller] += 1
        released = threading.Event()

        def release() -> None:
            with self._lock:
                if released.is_set():
                    return
                released.set()
                self._active[caller] -= 1
                if self._active[caller] <= 0:
                    del self._active[caller]
        return release


SLOTS = ExportSlots()


async def _released(body: AsyncIterable[Any], release: Callable[[], None]
                    ) -> AsyncIterator[Any]:
    try:
        async for chunk in body:
            yield chunk
    finally:
        release()


def limited(caller: str, limit: int, make: Callable[[], StreamingResponse]
            ) -> StreamingResponse:
    """``make()`` (the checks and the streaming response) inside one of ``caller``'s slots."""
    release = SLOTS.acquire(caller, limit)
    if release is None:
        raise HTTPException(
            429, f"{caller!r} already has {limit} full-year export(s) running; wait for one "
                 "to finish (CARBON_EXPORT_CONCURRENCY)",
            headers={"Retry-After": str(RETRY_AFTER_SECONDS)})
    try:
        response = make()
    except BaseException:
        release()
        raise
    response.body_iterator = _released(response.body_iterator, release)
    weakref.finalize(response, release)
    return response
