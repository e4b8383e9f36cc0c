"""The messaging benchmark's stream holders: many `GET /api/v1/events` streams held open
through nginx in a process of their own, every event's arrival time noted.

The holders run apart from the senders (`Holder` starts them in a child process and talks to
it over a pipe), so the time the senders spend sending does not delay the reading of an
event, and each side's CPU is measured on its own. Times are `time.monotonic()`
(CLOCK_MONOTONIC, the same clock in every process of the machine), so an arrival here and a
send's start there can be subtracted.

Per stream the holder checks the rule of the event stream as it reads: ids follow each other
(n, then n + 1): a jump is a gap (events lost), a repeat is a duplicate. A stream that ends
is opened again with `Last-Event-ID` (as a browser does) and counted as dropped.
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import resource
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from multiprocessing.connection import Connection as Pipe
from typing import Any

import orjson

from sichrplace.bench.client import ProtocolError, host_port, parse_head
from sichrplace.bench.sse import ChunkedDecoder, Frame, SseParser

EVENTS_PATH = "/api/v1/events"
MESSAGE_CREATED = "message.created"
READ_SIZE = 65536
OPEN_ATTEMPTS = 5  # a stream refused (429/503) or failed is tried again this often
RECONNECT_DELAY_S = 0.5

# A message.created event on a stream: (stream index, message id, arrival time).
Receipt = tuple[int, str, float]


def raise_nofile() -> int:
    """The soft limit of open files raised to the hard one (a stream is a socket); the new
    soft limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or soft < hard:
        target = hard if hard != resource.RLIM_INFINITY else max(soft, 65536)
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def message_id_of(data: str) -> str | None:
    """The message's id in a `message.created` event's data (None if it has none)."""
    try:
        value = orjson.loads(data)
        return str(value["message"]["id"])
    except (orjson.JSONDecodeError, KeyError, TypeError):
        return None


@dataclass
class StreamState:
    """One held stream: whose it is, and what its ids said so far."""

    index: int
    user: int
    auth: str
    first_id: int | None = None
    last_id: int | None = None
    gaps: int = 0  # events missing between two ids that followed each other on the stream
    repeats: int = 0  # ids received again (at or below the last one)
    drops: int = 0  # times the stream ended or failed and was opened again
    live: bool = False  # open (answered 200) right now
    refused: list[int] = field(default_factory=list)  # statuses of failed opens
    log: list[tuple[int, str | None]] = field(default_factory=list)  # (id, message id)

    def note(self, event_id: int, message_id: str | None) -> None:
        """The stream's rule: each id is the last one + 1."""
        last = self.last_id
        if last is not None:
            if event_id <= last:
                self.repeats += 1
                return
            self.gaps += event_id - last - 1
        if self.first_id is None:
            self.first_id = event_id
        self.last_id = event_id
        self.log.append((event_id, message_id))


class StreamHolder:
    """The streams of one process and their receipts (collected a phase at a time)."""

    def __init__(self, base_url: str) -> None:
        self.host, self.port = host_port(base_url)
        self.streams: list[StreamState] = []
        self.receipts: list[Receipt] = []
        self.message_receipts = 0  # message.created receipts since the last collect
        self.pings = 0
        self.frames = 0
        self.stopping = False
        self._tasks: list[asyncio.Task[None]] = []
        self._arrived = asyncio.Event()

    # -- one stream -------------------------------------------------------------------------

    def _request(self, auth: str, last_id: int | None) -> bytes:
        lines = [
            f"GET {EVENTS_PATH} HTTP/1.1",
            f"Host: {self.host}:{self.port}",
            f"Authorization: {auth}",
            "Accept: text/event-stream",
        ]
        if last_id is not None:
            lines.append(f"Last-Event-ID: {last_id}")
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")

    async def _connect(
        self, auth: str, last_id: int | None
    ) -> tuple[int, asyncio.StreamReader, asyncio.StreamWriter, ChunkedDecoder | None]:
        reader, writer = await asyncio.open_connection(self.host, self.port, limit=READ_SIZE)
        try:
            writer.write(self._request(auth, last_id))
            async with asyncio.timeout(10.0):
                status, headers = parse_head(await reader.readuntil(b"\r\n\r\n"))
        except BaseException:
            writer.close()
            raise
        chunked = "chunked" in headers.get("transfer-encoding", "").lower()
        return status, reader, writer, ChunkedDecoder() if chunked else None

    async def _hold(self, state: StreamState, opened: asyncio.Future[bool]) -> None:
        """Open the stream (a few tries), read it until stopped; open it again with its last
        id whenever it ends."""
        attempts = 0
        while not self.stopping:
            writer: asyncio.StreamWriter | None = None
            try:
                status, reader, writer, chunks = await self._connect(state.auth, state.last_id)
                if status != 200:
                    state.refused.append(status)
                    raise ProtocolError(f"stream answered {status}")
                if not opened.done():
                    opened.set_result(True)
                state.live = True
                await self._read(state, reader, chunks)
            except (OSError, TimeoutError, asyncio.IncompleteReadError, ProtocolError):
                pass
            finally:
                state.live = False
                if writer is not None:
                    writer.close()
            if self.stopping:
                break
            if opened.done():
                state.drops += 1
            else:
                attempts += 1
                if attempts >= OPEN_ATTEMPTS:
                    opened.set_result(False)
                    return
            await asyncio.sleep(RECONNECT_DELAY_S * (attempts or 1))
        if not opened.done():
            opened.set_result(False)

    async def _read(
        self, state: StreamState, reader: asyncio.StreamReader, chunks: ChunkedDecoder | None
    ) -> None:
        parser = SseParser()
        while True:
            data = await reader.read(READ_SIZE)
            arrived = time.monotonic()
            if not data:
                return  # the server ended the stream
            if chunks is not None:
                data = chunks.feed(data)
            self._frames(state, parser.feed(data), arrived)
            if chunks is not None and chunks.done:
                return  # the body's last chunk: the server ended the stream

    def _frames(self, state: StreamState, frames: list[Frame], arrived: float) -> None:
        for frame in frames:
            if frame.comment is not None:
                self.pings += 1
                continue
            if frame.id is None or not frame.id.isdigit():
                continue
            self.frames += 1
            event_id = int(frame.id)
            message_id = None
            if frame.event == MESSAGE_CREATED and frame.data is not None:
                message_id = message_id_of(frame.data)
                self.message_receipts += 1
                self._arrived.set()
            state.note(event_id, message_id)
            if message_id is not None:
                # A repeated one too: the accounting finds the message twice.
                self.receipts.append((state.index, message_id, arrived))

    # -- commands ---------------------------------------------------------------------------

    async def open(self, specs: Sequence[tuple[int, str]], concurrency: int) -> dict[str, Any]:
        """One stream per (user, Authorization) in `specs`, `concurrency` opening at a time;
        returns when each is open (or has failed its tries)."""
        began = time.monotonic()
        gate = asyncio.Semaphore(concurrency)
        first = len(self.streams)
        results: list[asyncio.Future[bool]] = []
        loop = asyncio.get_running_loop()

        async def start(state: StreamState, opened: asyncio.Future[bool]) -> None:
            async with gate:
                self._tasks.append(asyncio.create_task(self._hold(state, opened)))
                await asyncio.shield(opened)

        starters = []
        for offset, (user, auth) in enumerate(specs):
            state = StreamState(first + offset, user, auth)
            self.streams.append(state)
            opened: asyncio.Future[bool] = loop.create_future()
            results.append(opened)
            starters.append(start(state, opened))
        await asyncio.gather(*starters)
        ok = sum(1 for r in results if r.result())
        return {"opened": ok, "failed": len(results) - ok, "seconds": time.monotonic() - began}

    async def wait(self, expected: int, timeout_s: float, linger_s: float) -> dict[str, Any]:
        """Until `expected` message.created receipts have arrived since the last collect (or
        the time is up), then `linger_s` more for late repeats; the receipts, collected."""
        deadline = time.monotonic() + timeout_s
        while self.message_receipts < expected:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            self._arrived.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(min(left, 0.5)):
                    await self._arrived.wait()
        short = self.message_receipts < expected
        await asyncio.sleep(linger_s)
        receipts, self.receipts = self.receipts, []
        self.message_receipts = 0
        return {"receipts": receipts, "timed_out": short}

    def stats(self) -> dict[str, Any]:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        return {
            "streams": len(self.streams),
            "live": sum(1 for s in self.streams if s.live),
            "gaps": sum(s.gaps for s in self.streams),
            "repeats": sum(s.repeats for s in self.streams),
            "drops": sum(s.drops for s in self.streams),
            "refused": sorted(st for s in self.streams for st in s.refused),
            "frames": self.frames,
            "pings": self.pings,
            "cpu_s": usage.ru_utime + usage.ru_stime,
        }

    async def replay(
        self, users: Sequence[tuple[int, str, int, int]], concurrency: int, timeout_s: float
    ) -> dict[str, Any]:
        """Per (user, Authorization, after, until): a new stream with `Last-Event-ID: after`,
        read until id `until`; its ids and message ids compared with what each held stream
        of the user received live. `missing`: events in the replay a live stream lacks;
        `extra`: live events the replay does not have; `replay_gaps`: ids the replay skipped
        or repeated; `incomplete`: replays that did not reach `until` in time."""
        gate = asyncio.Semaphore(concurrency)
        by_user: dict[int, list[StreamState]] = {}
        for state in self.streams:
            by_user.setdefault(state.user, []).append(state)
        totals = {"users": 0, "events": 0, "missing": 0, "extra": 0, "replay_gaps": 0}
        totals["incomplete"] = 0

        async def one(user: int, auth: str, after: int, until: int) -> None:
            got: list[tuple[int, str | None]] = []
            if until > after:
                async with gate:
                    got = await self._replay_one(auth, after, until, timeout_s)
            totals["users"] += 1
            totals["events"] += len(got)
            ids = [event_id for event_id, _ in got]
            if ids != list(range(after + 1, after + 1 + len(ids))):
                totals["replay_gaps"] += 1
            if not ids or ids[-1] < until:
                totals["incomplete"] += int(until > after)
            record = set(got)
            for state in by_user.get(user, []):
                live = {entry for entry in state.log if after < entry[0] <= until}
                totals["missing"] += len(record - live)
                totals["extra"] += len(live - record)

        await asyncio.gather(*(one(*u) for u in users))
        return totals

    async def _replay_one(
        self, auth: str, after: int, until: int, timeout_s: float
    ) -> list[tuple[int, str | None]]:
        got: list[tuple[int, str | None]] = []
        writer: asyncio.StreamWriter | None = None
        try:
            async with asyncio.timeout(timeout_s):
                status, reader, writer, chunks = await self._connect(auth, after)
                if status != 200:
                    return got
                parser = SseParser()
                while not got or got[-1][0] < until:
                    data = await reader.read(READ_SIZE)
                    if not data:
                        break
                    if chunks is not None:
                        data = chunks.feed(data)
                    for frame in parser.feed(data):
                        if frame.id is None or not frame.id.isdigit():
                            continue
                        message_id = None
                        if frame.event == MESSAGE_CREATED and frame.data is not None:
                            message_id = message_id_of(frame.data)
                        got.append((int(frame.id), message_id))
        except (OSError, TimeoutError, asyncio.IncompleteReadError, ProtocolError):
            pass
        finally:
            if writer is not None:
                writer.close()
        return got

    async def close(self) -> dict[str, Any]:
        self.stopping = True
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        return self.stats()


async def _serve(pipe: Pipe, base_url: str) -> None:
    holder = StreamHolder(base_url)
    while True:
        command, args = await asyncio.to_thread(pipe.recv)
        if command == "open":
            result: Any = await holder.open(*args)
        elif command == "wait":
            result = await holder.wait(*args)
        elif command == "stats":
            result = holder.stats()
        elif command == "replay":
            result = await holder.replay(*args)
        elif command == "close":
            pipe.send(await holder.close())
            return
        else:
            result = {"error": f"unknown command {command!r}"}
        pipe.send(result)


def child_main(pipe: Pipe, base_url: str) -> None:
    """The holders' process: uvloop (as the API runs), as many open files as allowed."""
    import uvloop

    raise_nofile()
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(_serve(pipe, base_url))


class Holder:
    """The parent's handle on the holders' process."""

    def __init__(self, base_url: str) -> None:
        ctx = multiprocessing.get_context("spawn")
        self._pipe, child = ctx.Pipe()
        self._process = ctx.Process(
            target=child_main, args=(child, base_url), name="bench-streams", daemon=True
        )
        self._process.start()
        child.close()

    @property
    def pid(self) -> int:
        assert self._process.pid is not None
        return self._process.pid

    def call(self, command: str, *args: Any, timeout_s: float = 300.0) -> Any:
        self._pipe.send((command, args))
        if not self._pipe.poll(timeout_s):
            raise TimeoutError(f"the stream holders did not answer {command!r}")
        return self._pipe.recv()

    def open(self, specs: Sequence[tuple[int, str]], concurrency: int) -> dict[str, Any]:
        return dict(self.call("open", list(specs), concurrency))

    def wait(self, expected: int, timeout_s: float, linger_s: float) -> dict[str, Any]:
        return dict(self.call("wait", expected, timeout_s, linger_s, timeout_s=timeout_s + 60))

    def stats(self) -> dict[str, Any]:
        return dict(self.call("stats"))

    def replay(
        self, users: Sequence[tuple[int, str, int, int]], concurrency: int, timeout_s: float
    ) -> dict[str, Any]:
        return dict(self.call("replay", list(users), concurrency, timeout_s))

    def close(self) -> dict[str, Any]:
        try:
            return dict(self.call("close", timeout_s=30.0))
        finally:
            self._process.join(10.0)
            if self._process.is_alive():
                self._process.kill()
