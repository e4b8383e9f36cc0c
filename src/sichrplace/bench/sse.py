"""Reading a Server-Sent Events stream as it arrives, for the messaging benchmark's stream
holders: the HTTP/1.1 chunked body undone (`ChunkedDecoder`), then the event stream's lines
turned into frames (`SseParser`). Both take bytes in pieces of any size, as reads return them,
and keep what is incomplete for the next piece; neither does I/O.
"""

from __future__ import annotations

from dataclasses import dataclass

from sichrplace.bench.client import ProtocolError


class ChunkedDecoder:
    """`Transfer-Encoding: chunked` undone incrementally; `done` after the last chunk."""

    __slots__ = ("_buffer", "_left", "_state", "done")

    def __init__(self) -> None:
        self._buffer = b""
        self._left = 0  # bytes of the current chunk still to come
        self._state = "size"  # size | data | crlf | trailer
        self.done = False

    def feed(self, data: bytes) -> bytes:
        """The body bytes these wire bytes complete (possibly none)."""
        buf = self._buffer + data
        out: list[bytes] = []
        pos = 0
        while pos < len(buf) and not self.done:
            if self._state == "data":
                take = min(self._left, len(buf) - pos)
                out.append(buf[pos : pos + take])
                pos += take
                self._left -= take
                if self._left == 0:
                    self._state = "crlf"
                continue
            end = buf.find(b"\r\n", pos)
            if end < 0:
                break
            line = buf[pos:end]
            pos = end + 2
            if self._state == "crlf":
                if line:
                    raise ProtocolError("chunk without its CRLF")
                self._state = "size"
            elif self._state == "size":
                try:
                    self._left = int(line.split(b";", 1)[0].strip(), 16)
                except ValueError as exc:
                    raise ProtocolError(f"bad chunk size line: {line[:40]!r}") from exc
                self._state = "data" if self._left else "trailer"
            elif not line:  # the blank line after the trailers: the body is complete
                self.done = True
        self._buffer = buf[pos:]
        return b"".join(out)


@dataclass(frozen=True, slots=True)
class Frame:
    """One dispatched event (`data` set) or a comment line (`comment` set, nothing else)."""

    id: str | None = None
    event: str = "message"
    data: str | None = None
    comment: str | None = None
    retry: int | None = None


class SseParser:
    """The text/event-stream format (WHATWG HTML, "event stream interpretation"): lines end in
    LF, CRLF or CR; `field: value`; an event is dispatched at a blank line if it has data; a
    line starting with `:` is a comment (the API's heartbeat). `id` here is the frame's own
    `id:` line, not the stream's remembered last id."""

    __slots__ = ("_data", "_event", "_id", "_pending", "_retry", "last_event_id")

    def __init__(self) -> None:
        self._pending = b""
        self._data: list[str] = []
        self._event = ""
        self._id: str | None = None
        self._retry: int | None = None
        self.last_event_id: str | None = None

    def feed(self, data: bytes) -> list[Frame]:
        buf = self._pending + data
        frames: list[Frame] = []
        start = 0
        size = len(buf)
        while start < size:
            lf = buf.find(b"\n", start)
            cr = buf.find(b"\r", start, lf if lf >= 0 else size)
            if cr >= 0:
                if cr + 1 == size:
                    break  # a CR at the end may be the first half of a CRLF
                end, nxt = cr, cr + 2 if buf[cr + 1 : cr + 2] == b"\n" else cr + 1
            elif lf >= 0:
                end, nxt = lf, lf + 1
            else:
                break
            frame = self._line(buf[start:end].decode("utf-8", "replace"))
            if frame is not None:
                frames.append(frame)
            start = nxt
        self._pending = buf[start:]
        return frames

    def _line(self, line: str) -> Frame | None:
        if not line:
            return self._dispatch()
        if line.startswith(":"):
            return Frame(comment=line[1:].lstrip(" "))
        name, sep, value = line.partition(":")
        if sep and value.startswith(" "):
            value = value[1:]
        if name == "data":
            self._data.append(value)
        elif name == "event":
            self._event = value
        elif name == "id":
            if "\0" not in value:
                self._id = value
                self.last_event_id = value
        elif name == "retry" and value.isdigit():
            self._retry = int(value)
        return None

    def _dispatch(self) -> Frame | None:
        data, event, frame_id, retry = self._data, self._event, self._id, self._retry
        self._data, self._event, self._id, self._retry = [], "", None, None
        if not data:
            return Frame(retry=retry) if retry is not None else None
        return Frame(id=frame_id, event=event or "message", data="\n".join(data), retry=retry)
