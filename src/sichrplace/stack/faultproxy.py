"""A fault-injecting TCP proxy for the chaos matrix (issue 20): one asyncio process, one
listener per path (API -> PgBouncer, API -> Redis), each forwarding to its upstream, and a
small HTTP control port (JSON) that sets each path's mode at run time.

Modes of a path:
- `pass`: bytes go through as they come;
- `latency`: every chunk waits `ms` (+- `jitter_ms`) in each direction, order kept (a delay
  line, not a per-chunk sleep: a burst of chunks is delayed once, not once per chunk);
- `stall`: every byte of the existing and of new connections is held for `seconds` (or until
  the mode changes), then delivered;
- `reset`: the open connections are reset (RST: SO_LINGER 0), new ones are reset at once
  with `probability` (1.0: every one);
- `refuse`: the listener closes (connections are refused), open ones are reset.

Why our own: netem has no kernel module on this machine and toxiproxy is in no reachable
registry (docs/operations.md, "Fault injection").

Control: `GET /paths` (every path's mode and counters), `POST /paths/<name>` with
`{"mode": "latency", "ms": 50, "jitter_ms": 10}` (or stall `seconds`, reset `probability`),
`POST /clear` (every path to `pass`), `GET /healthz`.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import random
import socket
import struct
import time
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import orjson
import structlog

from sichrplace.config import Settings
from sichrplace.stack.layout import Layout

log = structlog.get_logger(__name__)

MODES = ("pass", "latency", "stall", "reset", "refuse")
CHUNK = 65536
# A stall without a length holds until cleared; this caps it so a forgotten one ends.
MAX_STALL_SECONDS = 3600.0


@dataclass(frozen=True)
class FaultProxyPorts:
    """Where the proxy listens: fixed offsets from `SICHRPLACE_STACK_FAULTPROXY_BASE_PORT`."""

    base: int

    @property
    def control(self) -> int:
        return self.base

    @property
    def pgbouncer(self) -> int:
        """The API's way to PgBouncer while armed."""
        return self.base + 1

    @property
    def redis(self) -> int:
        """The API's way to Redis while armed."""
        return self.base + 2


@dataclass(frozen=True)
class Route:
    name: str
    listen_port: int
    upstream_host: str
    upstream_port: int


def routes(settings: Settings) -> list[Route]:
    s = settings.stack
    ports = FaultProxyPorts(s.faultproxy_base_port)
    return [
        Route("pgbouncer", ports.pgbouncer, "127.0.0.1", s.pgbouncer_port),
        Route("redis", ports.redis, "127.0.0.1", s.redis_port),
    ]


@dataclass
class Mode:
    """A path's fault, as set through the control port."""

    mode: str = "pass"
    ms: float = 0.0
    jitter_ms: float = 0.0
    stall_until: float = 0.0  # monotonic
    probability: float = 1.0

    @classmethod
    def parse(cls, body: dict[str, Any]) -> Mode:
        mode = str(body.get("mode", "pass"))
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}")
        ms = float(body.get("ms", 0))
        jitter = float(body.get("jitter_ms", 0))
        seconds = float(body.get("seconds", MAX_STALL_SECONDS))
        probability = float(body.get("probability", 1.0))
        if ms < 0 or jitter < 0 or not 0 < seconds <= MAX_STALL_SECONDS:
            raise ValueError("ms, jitter_ms >= 0; 0 < seconds <= 3600")
        if not 0 <= probability <= 1:
            raise ValueError("0 <= probability <= 1")
        until = time.monotonic() + seconds if mode == "stall" else 0.0
        return cls(mode, ms, jitter, until, probability)

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"mode": self.mode}
        if self.mode == "latency":
            out |= {"ms": self.ms, "jitter_ms": self.jitter_ms}
        elif self.mode == "stall":
            out["remaining_s"] = round(max(0.0, self.stall_until - time.monotonic()), 3)
        elif self.mode == "reset":
            out["probability"] = self.probability
        return out


def _abort_with_rst(writer: asyncio.StreamWriter) -> None:
    """Close at once with a TCP reset (SO_LINGER 0), not a FIN: the peer sees ECONNRESET."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


@dataclass(eq=False)
class Conn:
    client: asyncio.StreamWriter
    upstream: asyncio.StreamWriter | None = None

    def reset(self) -> None:
        _abort_with_rst(self.client)
        if self.upstream is not None:
            _abort_with_rst(self.upstream)


@dataclass(eq=False)
class ProxyPath:
    """One listener and what it does to the bytes going through it."""

    route: Route
    mode: Mode = field(default_factory=Mode)
    conns: set[Conn] = field(default_factory=set)
    server: asyncio.Server | None = None
    changed: asyncio.Event = field(default_factory=asyncio.Event)
    accepted: int = 0
    reset_count: int = 0
    bytes_up: int = 0
    bytes_down: int = 0

    async def listen(self) -> None:
        if self.server is None:
            self.server = await asyncio.start_server(
                self._accept, "127.0.0.1", self.route.listen_port, reuse_address=True
            )

    async def close_listener(self) -> None:
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()
            self.server = None

    async def set_mode(self, mode: Mode) -> None:
        self.mode = mode
        # Wake pumps waiting on a stall or a delay, so they look at the new mode.
        self.changed.set()
        self.changed = asyncio.Event()
        if mode.mode in ("reset", "refuse"):
            for conn in list(self.conns):
                conn.reset()
                self.reset_count += 1
            self.conns.clear()
        if mode.mode == "refuse":
            await self.close_listener()
        else:
            await self.listen()

    def as_json(self) -> dict[str, Any]:
        return {
            **self.mode.as_json(),
            "listen": self.route.listen_port,
            "upstream": f"{self.route.upstream_host}:{self.route.upstream_port}",
            "open": len(self.conns),
            "accepted": self.accepted,
            "reset": self.reset_count,
            "bytes_up": self.bytes_up,
            "bytes_down": self.bytes_down,
        }

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.accepted += 1
        conn = Conn(writer)
        mode = self.mode
        if mode.mode == "refuse" or (mode.mode == "reset" and random.random() < mode.probability):
            self.reset_count += 1
            _abort_with_rst(writer)
            return
        try:
            up_reader, up_writer = await asyncio.open_connection(
                self.route.upstream_host, self.route.upstream_port
            )
        except OSError:
            _abort_with_rst(writer)
            return
        conn.upstream = up_writer
        self.conns.add(conn)
        try:
            await _both(
                self._pump(reader, up_writer, up=True), self._pump(up_reader, writer, up=False)
            )
        except (OSError, asyncio.IncompleteReadError):
            conn.reset()
        finally:
            self.conns.discard(conn)
            for w in (writer, up_writer):
                if not w.transport.is_closing():
                    w.close()

    async def _pump(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, *, up: bool
    ) -> None:
        """Read chunks as they come and write each when its delay has passed (a delay line
        between a reader and a writer task), holding everything while the path stalls."""
        line: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue(maxsize=256)

        async def read() -> None:
            last_due = 0.0
            while True:
                data = await reader.read(CHUNK)
                mode = self.mode
                delay = 0.0
                if mode.mode == "latency":
                    delay = max(0.0, mode.ms + random.uniform(-mode.jitter_ms, mode.jitter_ms))
                last_due = max(last_due, time.monotonic() + delay / 1000)
                await line.put((last_due, data))
                if not data:
                    return

        async def write() -> None:
            while True:
                due, data = await line.get()
                await self._hold(due)
                if not data:
                    with contextlib.suppress(OSError):
                        if writer.can_write_eof():
                            writer.write_eof()
                    return
                writer.write(data)
                if up:
                    self.bytes_up += len(data)
                else:
                    self.bytes_down += len(data)
                await writer.drain()

        await _both(read(), write())

    async def _hold(self, due: float) -> None:
        """Until `due` has passed and the path does not stall (a mode change wakes it)."""
        while True:
            now = time.monotonic()
            mode = self.mode
            wait = due - now
            if mode.mode == "stall" and mode.stall_until > now:
                wait = max(wait, mode.stall_until - now)
            if wait <= 0:
                return
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.changed.wait(), wait)


async def _both(first: Coroutine[Any, Any, None], second: Coroutine[Any, Any, None]) -> None:
    """Run both to the end; when one fails, cancel the other and raise its error."""
    tasks = {asyncio.ensure_future(first), asyncio.ensure_future(second)}
    try:
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
    finally:
        for task in tasks:
            if not task.done():
                task.cancel()
    for task in done:
        task.result()


class Control:
    """The control port: a minimal HTTP/1.1 server (one request a connection, JSON)."""

    def __init__(self, paths: dict[str, ProxyPath]) -> None:
        self.paths = paths

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            status, body = await self._request(reader)
        except (ValueError, asyncio.IncompleteReadError, asyncio.LimitOverrunError) as exc:
            status, body = 400, {"error": str(exc)}
        payload = orjson.dumps(body)
        head = (
            f"HTTP/1.1 {status} {'OK' if status == 200 else 'Error'}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(payload)}\r\n"
            "Connection: close\r\n\r\n"
        )
        writer.write(head.encode() + payload)
        with contextlib.suppress(OSError):
            await writer.drain()
        writer.close()

    async def _request(self, reader: asyncio.StreamReader) -> tuple[int, Any]:
        head = await reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        method, target, _ = lines[0].split(" ", 2)
        length = 0
        for line in lines[1:]:
            name, _, value = line.partition(":")
            if name.strip().lower() == "content-length":
                length = int(value.strip())
        raw = await reader.readexactly(length) if length else b""
        data = orjson.loads(raw) if raw else {}
        return await self.route(method, target, data)

    async def route(self, method: str, target: str, data: Any) -> tuple[int, Any]:
        if method == "GET" and target == "/healthz":
            return 200, {"status": "ok"}
        if method == "GET" and target == "/paths":
            return 200, self.state()
        if method == "POST" and target == "/clear":
            for path in self.paths.values():
                await path.set_mode(Mode())
            return 200, self.state()
        if method == "POST" and target.startswith("/paths/"):
            found = self.paths.get(target.removeprefix("/paths/"))
            if found is None:
                return 404, {"error": f"paths: {sorted(self.paths)}"}
            if not isinstance(data, dict):
                raise ValueError("a JSON object")
            mode = Mode.parse(data)
            await found.set_mode(mode)
            log.info("faultproxy_mode", path=found.route.name, **mode.as_json())
            return 200, self.state()
        return 404, {"error": "GET /healthz, GET /paths, POST /paths/<name>, POST /clear"}

    def state(self) -> dict[str, Any]:
        return {name: path.as_json() for name, path in self.paths.items()}


BIND_RETRY_SECONDS = 5.0
T = TypeVar("T")


class _Stopped(Exception):
    """`stop` was set while a port was still awaited."""


async def _bound(what: str, bind: Callable[[], Awaitable[T]], stop: asyncio.Event) -> T:
    """`bind()`, tried again while its port is taken (until `stop`: _Stopped). A port of ours
    inside the kernel's ephemeral range can be held for a while as the local end of some
    client's connection; waiting here beats exiting, which supervisord would answer with a
    restart (and a whole interpreter's start-up) every second for as long as it stays taken."""
    while True:
        try:
            return await bind()
        except OSError as exc:
            if exc.errno != errno.EADDRINUSE:
                raise
            log.warning("faultproxy_port_taken", what=what, retry_in=BIND_RETRY_SECONDS)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), BIND_RETRY_SECONDS)
            if stop.is_set():
                raise _Stopped(what) from exc


async def run(settings: Settings, stop: asyncio.Event | None = None) -> None:
    """Listen on every path and the control port until `stop` is set (or forever); a stop
    while a port is still awaited ends the run too."""
    stop = stop or asyncio.Event()
    paths = {r.name: ProxyPath(r) for r in routes(settings)}
    control = Control(paths)
    port = FaultProxyPorts(settings.stack.faultproxy_base_port).control

    async def serve_control() -> asyncio.Server:
        return await asyncio.start_server(control.handle, "127.0.0.1", port, reuse_address=True)

    server: asyncio.Server | None = None
    try:
        for name, path in paths.items():
            await _bound(name, path.listen, stop)
        server = await _bound("control", serve_control, stop)
        log.info("faultproxy_listening", control=port, paths=control.state())
        await stop.wait()
    except _Stopped as stopped:
        log.info("faultproxy_stopped_waiting_for_port", what=str(stopped))
    finally:
        if server is not None:
            server.close()
        for path in paths.values():
            await path.close_listener()
            for conn in list(path.conns):
                conn.reset()


def armed_marker(layout: Layout) -> Path:
    """Present while the APIs are pointed through the proxy (`stack faultproxy arm`): the
    rendered supervisord config follows it, so a `stack up` meanwhile keeps them there."""
    return layout.run / "faultproxy-armed"


def is_armed(layout: Layout) -> bool:
    return armed_marker(layout).exists()


def proxied_env(settings: Settings) -> dict[str, str]:
    """The API programs' environment while armed: PgBouncer and Redis through the proxy."""
    ports = FaultProxyPorts(settings.stack.faultproxy_base_port)
    return {
        "SICHRPLACE_DB_PORT": str(ports.pgbouncer),
        "SICHRPLACE_REDIS_URL": f"redis://127.0.0.1:{ports.redis}/0",
    }
