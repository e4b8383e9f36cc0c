"""A small Server-Sent Events reader for tests: frames as the server wrote them."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import httpx


@dataclass
class Frame:
    """One block up to a blank line: an event (`id`, `event`, `data`), a `retry`, or comments."""

    id: int | None = None
    event: str | None = None
    data: str | None = None
    retry: int | None = None
    comments: list[str] = field(default_factory=list)


class SseReader:
    """Lines are pumped into a queue by a task of their own, so a read that times out leaves
    the stream intact for the next one."""

    def __init__(self, response: httpx.Response) -> None:
        self.response = response
        self._lines: asyncio.Queue[str | None] = asyncio.Queue()
        self._pump = asyncio.create_task(self._read())

    async def _read(self) -> None:
        try:
            async for line in self.response.aiter_lines():
                await self._lines.put(line)
        except httpx.HTTPError:
            pass
        finally:
            self._lines.put_nowait(None)

    async def close(self) -> None:
        self._pump.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._pump

    async def next(self, within: float = 5.0) -> Frame | None:
        """The next frame, or None when the server ended the stream; TimeoutError if none
        came within `within` seconds."""
        async with asyncio.timeout(within):
            frame = Frame()
            seen = False
            while (line := await self._lines.get()) is not None:
                if line == "":
                    if seen:
                        return frame
                    continue
                seen = True
                name, _, value = line.partition(":")
                value = value.removeprefix(" ")
                if name == "":
                    frame.comments.append(value)
                elif name == "id":
                    frame.id = int(value)
                elif name == "event":
                    frame.event = value
                elif name == "data":
                    frame.data = value if frame.data is None else f"{frame.data}\n{value}"
                elif name == "retry":
                    frame.retry = int(value)
            self._lines.put_nowait(None)  # ended: so is every later read
            return None

    async def event(self, within: float = 5.0) -> Frame:
        """The next event frame (heartbeats skipped); AssertionError if the stream ended."""
        async with asyncio.timeout(within):
            while True:
                frame = await self.next(within)
                assert frame is not None, "the stream ended"
                if frame.id is not None:
                    return frame

    async def events(self, count: int, within: float = 5.0) -> list[Frame]:
        async with asyncio.timeout(within):
            return [await self.event(within) for _ in range(count)]

    async def nothing_more(self, within: float) -> None:
        """Assert no event frame arrives within `within` seconds (heartbeats are fine)."""
        try:
            frame = await self.event(within)
        except TimeoutError:
            return
        raise AssertionError(f"unexpected event {frame}")


@asynccontextmanager
async def open_stream(
    http: httpx.AsyncClient,
    headers: Mapping[str, str],
    *,
    last_event_id: int | None = None,
    params: Mapping[str, str] | None = None,
    path: str = "/api/v1/events",
) -> AsyncIterator[SseReader]:
    """An open stream, ready: its `retry:` frame has arrived, so it is subscribed."""
    sent = dict(headers)
    if last_event_id is not None:
        sent["Last-Event-ID"] = str(last_event_id)
    async with http.stream("GET", path, headers=sent, params=params) as response:
        assert response.status_code == 200, (response.status_code, await response.aread())
        assert response.headers["content-type"].startswith("text/event-stream")
        reader = SseReader(response)
        try:
            first = await reader.next()
            assert first is not None, "the stream ended at once"
            assert first.retry is not None, first
            yield reader
        finally:
            await reader.close()
