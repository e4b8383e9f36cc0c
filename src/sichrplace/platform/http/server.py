"""The HTTP protocol the API instances serve with: uvicorn's httptools protocol whose
response writes leave in one system call.

uvicorn writes a response's head when the app sends `http.response.start` and its body when
it sends `http.response.body`; uvloop sends each write at once, so every response cost two
`send()` calls, and the first wakes the load balancer before the body is there. Profiled under
the cached search, the two sends were 40% of an API process's samples (docs/performance-log.md,
round 10). Here the writes made in one step of the event loop are gathered and leave as one
`writev()` when that step ends: same bytes, same order, one wake-up.
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol


class CoalescingTransport:
    """A transport whose writes in one event-loop step are sent together after it.

    Everything but `write`, `writelines` and `close` is the wrapped transport's own (flow
    control still pauses and resumes the protocol from the real transport's buffer).
    """

    __slots__ = ("_loop", "_pending", "_transport")

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._pending: list[bytes] = []

    def write(self, data: bytes) -> None:
        if not self._pending:
            self._loop.call_soon(self.flush)
        self._pending.append(data)

    def writelines(self, lines: list[bytes]) -> None:
        for data in lines:
            self.write(data)

    def flush(self) -> None:
        pending = self._pending
        if not pending:
            return
        self._pending = []
        if self._transport.is_closing():
            return  # closed without close() (the peer went away): nothing can be sent
        if len(pending) == 1:
            self._transport.write(pending[0])
        else:
            self._transport.writelines(pending)

    def close(self) -> None:
        # What was written before close() is sent before the connection ends.
        self.flush()
        self._transport.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


class CoalescingHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol on a `CoalescingTransport`."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        coalescing: Any = CoalescingTransport(transport, self.loop)  # type: ignore[arg-type]
        super().connection_made(coalescing)
