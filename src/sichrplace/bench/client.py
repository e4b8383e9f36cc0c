"""A lean HTTP/1.1 client for benchmarks that must read what they get back (the booking
journey: a booking's id leads to its payment), where wrk's fixed request lists do not reach.

One `Connection` is one keep-alive TCP connection, used by one task at a time: N tasks with
a connection each are N connections, as wrk's `-c N`. It speaks what nginx answers with
(Content-Length or chunked bodies, `Connection: close`) and nothing more, with asyncio's
streams only, so the load generator's own cost per request stays small next to the API's.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

MAX_HEAD = 64 * 1024


class ProtocolError(Exception):
    """The server's answer is not HTTP/1.1 as this client reads it."""


@dataclass(frozen=True, slots=True)
class Answer:
    status: int
    headers: Mapping[str, str]  # names in lower case
    body: bytes


def host_port(base_url: str) -> tuple[str, int]:
    """ "http://127.0.0.1:58080" -> ("127.0.0.1", 58080); only plain http."""
    parts = urlsplit(base_url)
    if parts.scheme != "http" or not parts.hostname:
        raise ValueError(f"not a plain http base URL: {base_url!r}")
    return parts.hostname, parts.port or 80


def format_request(
    method: str,
    path: str,
    *,
    host: str,
    headers: Mapping[str, str] | None = None,
    body: bytes | None = None,
) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", f"Host: {host}"]
    lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
    if body is not None or method in ("POST", "PUT", "PATCH"):
        lines.append(f"Content-Length: {len(body or b'')}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + (body or b"")


def parse_head(head: bytes) -> tuple[int, dict[str, str]]:
    """A response's status line and headers (up to the blank line) -> status, headers."""
    lines = head.decode("latin-1").rstrip("\r\n").split("\r\n")
    version, _, rest = lines[0].partition(" ")
    if not version.startswith("HTTP/1.") or not rest[:3].isdigit():
        raise ProtocolError(f"bad status line: {lines[0]!r}")
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if not sep:
            raise ProtocolError(f"bad header line: {line!r}")
        headers[name.strip().lower()] = value.strip()
    return int(rest[:3]), headers


def keeps_alive(headers: Mapping[str, str]) -> bool:
    return "close" not in headers.get("connection", "").lower()


async def read_answer(reader: asyncio.StreamReader, *, head_request: bool = False) -> Answer:
    """One response from the stream: the head, then a Content-Length or chunked body."""
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.LimitOverrunError as exc:
        raise ProtocolError("response head too long") from exc
    status, headers = parse_head(head)
    if head_request or status in (204, 304) or 100 <= status < 200:
        return Answer(status, headers, b"")
    if "chunked" in headers.get("transfer-encoding", "").lower():
        return Answer(status, headers, await _read_chunked(reader))
    if "content-length" in headers:
        return Answer(status, headers, await reader.readexactly(int(headers["content-length"])))
    if keeps_alive(headers):
        raise ProtocolError("a kept-alive response without a length")
    return Answer(status, headers, await reader.read())


async def _read_chunked(reader: asyncio.StreamReader) -> bytes:
    body = bytearray()
    while True:
        size_line = await reader.readuntil(b"\r\n")
        size = int(size_line.split(b";", 1)[0].strip(), 16)
        if size == 0:
            while (await reader.readuntil(b"\r\n")) != b"\r\n":  # trailers, then the end
                pass
            return bytes(body)
        body += await reader.readexactly(size)
        if await reader.readexactly(2) != b"\r\n":
            raise ProtocolError("chunk without its CRLF")


class Connection:
    """One keep-alive connection; opened on first use and again after the server closed it."""

    def __init__(self, base_url: str, *, timeout_s: float = 10.0) -> None:
        self.host, self.port = host_port(base_url)
        self.host_header = f"{self.host}:{self.port}"
        self.timeout_s = timeout_s
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def request(
        self,
        method: str,
        path: str,
        *,
        headers: Mapping[str, str] | None = None,
        body: bytes | None = None,
    ) -> Answer:
        """Send and read one exchange; a failure closes the connection and raises (the next
        request opens a new one): OSError, asyncio.TimeoutError, IncompleteReadError,
        ProtocolError."""
        data = format_request(method, path, host=self.host_header, headers=headers, body=body)
        try:
            async with asyncio.timeout(self.timeout_s):
                if self._writer is None:
                    self._reader, self._writer = await asyncio.open_connection(
                        self.host, self.port, limit=MAX_HEAD
                    )
                assert self._reader is not None
                self._writer.write(data)
                answer = await read_answer(self._reader, head_request=method == "HEAD")
        except BaseException:
            self.close()
            raise
        if not keeps_alive(answer.headers):
            self.close()
        return answer

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
        self._reader = self._writer = None
