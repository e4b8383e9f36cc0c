"""The API's HTTP protocol: a response's head and body leave in one write, nothing is lost,
reordered or sent after the connection closed; and a real server speaking it over a Unix
socket answers keep-alive sequences and streams like uvicorn's own."""

from __future__ import annotations

import asyncio
import contextlib
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import uvicorn
from starlette.types import Receive, Scope, Send

from sichrplace.platform.http.server import CoalescingHttpToolsProtocol, CoalescingTransport


class RecordingTransport:
    """What the event loop's transport is asked to do, in order."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []
        self.closing = False

    def write(self, data: bytes) -> None:
        self.calls.append(("write", data))

    def writelines(self, lines: list[bytes]) -> None:
        self.calls.append(("writelines", list(lines)))

    def close(self) -> None:
        self.closing = True
        self.calls.append(("close", None))

    def is_closing(self) -> bool:
        return self.closing

    def get_extra_info(self, name: str) -> str:
        return f"info:{name}"


async def test_writes_in_one_step_leave_together_after_it() -> None:
    real = RecordingTransport()
    transport = CoalescingTransport(real, asyncio.get_running_loop())  # type: ignore[arg-type]

    transport.write(b"HTTP/1.1 200 OK\r\n\r\n")
    transport.write(b"body")
    assert real.calls == []  # nothing leaves inside the step
    await asyncio.sleep(0)
    assert real.calls == [("writelines", [b"HTTP/1.1 200 OK\r\n\r\n", b"body"])]

    transport.write(b"next")  # a later step: its own write
    await asyncio.sleep(0)
    assert real.calls[-1] == ("write", b"next")


async def test_close_sends_what_was_written_first() -> None:
    real = RecordingTransport()
    transport = CoalescingTransport(real, asyncio.get_running_loop())  # type: ignore[arg-type]

    transport.write(b"head")
    transport.write(b"tail")
    transport.close()
    await asyncio.sleep(0)  # the scheduled flush finds nothing left
    assert real.calls == [("writelines", [b"head", b"tail"]), ("close", None)]


async def test_nothing_is_written_to_a_connection_the_peer_closed() -> None:
    real = RecordingTransport()
    transport = CoalescingTransport(real, asyncio.get_running_loop())  # type: ignore[arg-type]

    transport.write(b"late")
    real.closing = True  # connection_lost in the meantime
    await asyncio.sleep(0)
    assert real.calls == []


async def test_the_rest_is_the_wrapped_transports() -> None:
    real = RecordingTransport()
    transport: Any = CoalescingTransport(real, asyncio.get_running_loop())  # type: ignore[arg-type]
    assert transport.get_extra_info("peername") == "info:peername"
    assert transport.is_closing() is False


async def _app(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] != "http":
        return
    if scope["path"] == "/stream":
        await send({"type": "http.response.start", "status": 200, "headers": []})
        for part in (b"one ", b"two ", b"three"):
            await send({"type": "http.response.body", "body": part, "more_body": True})
            await asyncio.sleep(0.01)  # separate steps: each part leaves on its own
        await send({"type": "http.response.body", "body": b""})
        return
    body = scope["path"].encode()
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})


@contextlib.asynccontextmanager
async def _serving(path: str) -> AsyncIterator[uvicorn.Server]:
    config = uvicorn.Config(
        _app, uds=path, http=CoalescingHttpToolsProtocol, log_config=None, lifespan="off"
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:  # noqa: ASYNC110 (uvicorn offers no event to wait on)
        await asyncio.sleep(0.01)
    try:
        yield server
    finally:
        server.should_exit = True
        await task


async def _read_response(reader: asyncio.StreamReader) -> tuple[bytes, bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    if b"transfer-encoding: chunked" in head.lower():
        body = b""
        while True:
            size = int((await reader.readline()).strip(), 16)
            chunk = await reader.readexactly(size + 2)
            if size == 0:
                return head, body
            body += chunk[:-2]
    length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
    return head, await reader.readexactly(length)


async def test_a_server_on_the_protocol_answers_keep_alive_requests_and_streams() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = str(Path(tmp) / "api.sock")
        async with _serving(path):
            reader, writer = await asyncio.open_unix_connection(path)
            # Pipelined on one connection: every answer whole and in order.
            writer.write(
                b"".join(f"GET /r{i} HTTP/1.1\r\nhost: x\r\n\r\n".encode() for i in range(5))
            )
            for i in range(5):
                head, body = await _read_response(reader)
                assert head.startswith(b"HTTP/1.1 200 OK")
                assert body == f"/r{i}".encode()
            writer.write(b"GET /stream HTTP/1.1\r\nhost: x\r\n\r\n")
            _head, body = await _read_response(reader)
            assert body == b"one two three"
            # Connection: close: the answer arrives whole before the server closes.
            writer.write(b"GET /last HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
            _head, body = await _read_response(reader)
            assert body == b"/last"
            assert await reader.read() == b""
            writer.close()
