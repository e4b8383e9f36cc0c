"""The local stack's trace store: an OTLP/HTTP receiver (protobuf `POST /v1/traces`) that
keeps spans in SQLite, and the tree `sichrplace traces show` prints.

Production sends OTLP to a collector or an APM vendor instead; nothing here is on a request
path (the SDK exports in a background thread, in batches).
"""

from __future__ import annotations

import gzip
import json
import sqlite3
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue

SCHEMA = """
CREATE TABLE IF NOT EXISTS spans (
    trace_id TEXT NOT NULL,
    span_id TEXT NOT NULL,
    parent_id TEXT NOT NULL,
    name TEXT NOT NULL,
    service TEXT NOT NULL,
    kind INTEGER NOT NULL,
    start_ns INTEGER NOT NULL,
    end_ns INTEGER NOT NULL,
    status INTEGER NOT NULL,
    request_id TEXT,
    attributes TEXT NOT NULL,
    PRIMARY KEY (trace_id, span_id)
);
CREATE INDEX IF NOT EXISTS spans_request_id ON spans (request_id);
"""


@dataclass(frozen=True)
class StoredSpan:
    trace_id: str
    span_id: str
    parent_id: str
    name: str
    service: str
    start_ns: int
    end_ns: int
    status: int  # OTLP: 0 unset, 1 ok, 2 error
    attributes: dict[str, Any]

    @property
    def duration_ms(self) -> float:
        return (self.end_ns - self.start_ns) / 1e6


def _value(v: AnyValue) -> Any:
    kind = v.WhichOneof("value")
    if kind is None:
        return None
    if kind == "array_value":
        return [_value(x) for x in v.array_value.values]
    if kind == "kvlist_value":
        return {kv.key: _value(kv.value) for kv in v.kvlist_value.values}
    if kind == "bytes_value":
        return v.bytes_value.hex()
    return getattr(v, kind)


def decode(body: bytes) -> list[StoredSpan]:
    """The spans of one OTLP ExportTraceServiceRequest (protobuf)."""
    request = ExportTraceServiceRequest()
    request.ParseFromString(body)
    spans: list[StoredSpan] = []
    for resource_spans in request.resource_spans:
        resource = {kv.key: _value(kv.value) for kv in resource_spans.resource.attributes}
        service = str(resource.get("service.name", "unknown"))
        for scope_spans in resource_spans.scope_spans:
            for s in scope_spans.spans:
                spans.append(
                    StoredSpan(
                        trace_id=s.trace_id.hex(),
                        span_id=s.span_id.hex(),
                        parent_id=s.parent_span_id.hex(),
                        name=s.name,
                        service=service,
                        start_ns=s.start_time_unix_nano,
                        end_ns=s.end_time_unix_nano,
                        status=s.status.code,
                        attributes={kv.key: _value(kv.value) for kv in s.attributes},
                    )
                )
    return spans


class SpanStore:
    """Spans in one SQLite file (a connection per thread: the receiver serves in threads)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._local = threading.local()
        path.parent.mkdir(parents=True, exist_ok=True)
        with self._conn() as conn:
            conn.executescript(SCHEMA)

    def _conn(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, timeout=10)
            conn.execute("PRAGMA journal_mode=WAL")
            self._local.conn = conn
        return conn

    def add(self, spans: Iterable[StoredSpan]) -> int:
        rows = [
            (
                s.trace_id,
                s.span_id,
                s.parent_id,
                s.name,
                s.service,
                0,
                s.start_ns,
                s.end_ns,
                s.status,
                s.attributes.get("request_id"),
                json.dumps(s.attributes, default=str),
            )
            for s in spans
        ]
        with self._conn() as conn:
            conn.executemany("INSERT OR REPLACE INTO spans VALUES (?,?,?,?,?,?,?,?,?,?,?)", rows)
        return len(rows)

    def trace_ids_for(self, request_id: str) -> list[str]:
        """Traces of a request: by the server span's request_id, or the request id itself when
        it is the trace id (nginx's $request_id is used as the trace id of requests without a
        traceparent)."""
        rid = request_id.strip()
        rows = self._conn().execute(
            "SELECT DISTINCT trace_id FROM spans WHERE request_id = ? OR trace_id = ?",
            (rid, rid.lower()),
        )
        return [r[0] for r in rows]

    def spans_of(self, trace_id: str) -> list[StoredSpan]:
        rows = self._conn().execute(
            "SELECT trace_id, span_id, parent_id, name, service, start_ns, end_ns, status,"
            " attributes FROM spans WHERE trace_id = ? ORDER BY start_ns",
            (trace_id,),
        )
        return [
            StoredSpan(r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], json.loads(r[8]))
            for r in rows
        ]


_SHOWN = (
    "http.route",
    "http.response.status_code",
    "request_id",
    "db.statement",
    "db.query.text",
    "db.redis.args_length",
    "cache.domain",
    "job.task",
    "job.attempt",
    "peer.service",
)


def render_tree(spans: list[StoredSpan]) -> list[str]:
    """Indented lines, children under parents in start order; spans whose parent is not here
    (nginx's, or a lost one) are roots."""
    ids = {s.span_id for s in spans}
    children: dict[str, list[StoredSpan]] = {}
    roots: list[StoredSpan] = []
    for s in spans:
        if s.parent_id and s.parent_id in ids:
            children.setdefault(s.parent_id, []).append(s)
        else:
            roots.append(s)
    lines: list[str] = []

    def walk(s: StoredSpan, depth: int) -> None:
        facts = []
        for key in _SHOWN:
            if key in s.attributes:
                text = str(s.attributes[key]).replace("\n", " ")
                facts.append(f"{key}={text[:80]}")
        error = "  ERROR" if s.status == 2 else ""
        lines.append(
            f"{'  ' * depth}{s.name}  {s.duration_ms:.2f} ms  [{s.service}]{error}"
            + (f"  {' '.join(facts)}" if facts else "")
        )
        for child in children.get(s.span_id, []):
            walk(child, depth + 1)

    for root in roots:
        walk(root, 0)
    return lines


class _Handler(BaseHTTPRequestHandler):
    store: SpanStore

    def do_POST(self) -> None:
        if self.path.rstrip("/") != "/v1/traces":
            self.send_error(404)
            return
        length = int(self.headers.get("content-length") or 0)
        body = self.rfile.read(length)
        if self.headers.get("content-encoding") == "gzip":
            body = gzip.decompress(body)
        try:
            spans = decode(body)
        except Exception:  # a malformed export: the sender gets a 400, the receiver lives
            self.send_error(400, "not an OTLP ExportTraceServiceRequest")
            return
        self.store.add(spans)
        answer = ExportTraceServiceResponse().SerializeToString()
        self.send_response(200)
        self.send_header("content-type", "application/x-protobuf")
        self.send_header("content-length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def do_GET(self) -> None:
        if self.path == "/healthz":
            self.send_response(200)
            self.send_header("content-length", "2")
            self.end_headers()
            self.wfile.write(b"ok")
            return
        self.send_error(404)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: one line per export would be most of the stack's log."""


def make_receiver(host: str, port: int, store: SpanStore) -> ThreadingHTTPServer:
    handler = type("Handler", (_Handler,), {"store": store})
    return ThreadingHTTPServer((host, port), handler)
