"""Log lines leave the process in batches: at a size, after an interval, at once after a
warning, and in the order they were logged."""

from __future__ import annotations

import json
import logging
import os
import select
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import NonRecordingSpan, SpanContext

from sichrplace.platform.observability import logging as obs_logging


@pytest.fixture
def pipe() -> Iterator[tuple[int, int]]:
    r, w = os.pipe()
    os.set_blocking(r, False)
    yield r, w
    os.close(r)
    os.close(w)


def _read(fd: int, wait: float = 0.0) -> bytes:
    ready, _, _ = select.select([fd], [], [], wait)
    if not ready:
        return b""
    return os.read(fd, 1 << 20)


def test_info_lines_wait_for_the_batch_and_warnings_take_them_along(
    pipe: tuple[int, int],
) -> None:
    r, w = pipe
    logger = obs_logging.BufferedLogger(obs_logging.LineBuffer(w, interval=3600))
    logger.info(b'{"event":"one"}')
    logger.info('{"event":"two"}')
    assert _read(r) == b""  # nothing written yet: one write per batch, not per line
    logger.warning(b'{"event":"three"}')
    assert _read(r) == b'{"event":"one"}\n{"event":"two"}\n{"event":"three"}\n'


def test_a_full_batch_is_written_without_waiting(pipe: tuple[int, int]) -> None:
    r, w = pipe
    buffer = obs_logging.LineBuffer(w, max_bytes=100, interval=3600)
    for _ in range(9):
        buffer.add(b"x" * 10 + b"\n")
    assert _read(r) == b""
    buffer.add(b"y" * 10 + b"\n")  # 110 bytes waiting
    assert _read(r).endswith(b"y" * 10 + b"\n")


def test_the_interval_flushes_what_waits(pipe: tuple[int, int]) -> None:
    r, w = pipe
    buffer = obs_logging.LineBuffer(w, interval=0.05)
    buffer.add(b"late\n")
    deadline = time.monotonic() + 5
    got = b""
    while not got and time.monotonic() < deadline:
        got = _read(r, 0.1)
    assert got == b"late\n"


def test_text_writes_share_the_buffer_and_its_order(pipe: tuple[int, int]) -> None:
    # The standard library's StreamHandler writes text and flushes after every record.
    r, w = pipe
    buffer = obs_logging.LineBuffer(w, interval=3600)
    obs_logging.BufferedLogger(buffer).info(b"structlog")
    buffer.write("stdlib\n")
    buffer.flush()
    assert _read(r) == b"structlog\nstdlib\n"


def test_timestamps_are_utc_iso_with_milliseconds() -> None:
    before = datetime.now(UTC)
    text = obs_logging.add_timestamp(None, "info", {})["timestamp"]
    assert len(text) == len("2026-12-05T12:00:00.123Z")
    stamped = datetime.fromisoformat(text)
    assert stamped.utcoffset() == timedelta(0)
    assert before - timedelta(milliseconds=1) <= stamped <= datetime.now(UTC)


def test_plain_event_names_skip_redaction_and_others_do_not() -> None:
    assert obs_logging.redact(None, "info", {"event": "job_worker_started"})["event"] == (
        "job_worker_started"
    )
    leaked = obs_logging.redact(None, "info", {"event": "mail to anna.schmidt@example.de"})
    assert "anna.schmidt" not in leaked["event"]


def test_the_direct_access_line_is_what_the_processor_chain_writes(
    pipe: tuple[int, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    r, w = pipe
    monkeypatch.setattr(obs_logging, "_buffer", obs_logging.LineBuffer(w, interval=3600))
    fields = {"method": "GET", "route": "/api/v1/me", "status": 200, "duration_ms": 1.5}
    facts = {"user": "abc"}
    ids = SpanContext(0x0AF7651916CD43DD8448EB211C80319C, 0xB7AD6B7169203331, False)
    monkeypatch.setattr(obs_logging, "_direct_access_lines", True)
    assert obs_logging.access_line("GET", "/api/v1/me", 200, 1.5, facts, "r1", ids)
    monkeypatch.setattr(obs_logging, "_direct_access_lines", False)
    # console output: the chain writes it
    assert not obs_logging.access_line("GET", "/api/v1/me", 200, 1.5, facts, "r1", ids)
    chained = dict(fields, request_id="r1", user="abc", event="request")
    token = otel_context.attach(trace.set_span_in_context(NonRecordingSpan(ids)))
    try:
        for processor in (
            obs_logging.add_timestamp,
            obs_logging.add_trace_ids,
            obs_logging.redact,
        ):
            chained = dict(processor(None, "info", chained))
    finally:
        otel_context.detach(token)
    assert chained["trace_id"] == "0af7651916cd43dd8448eb211c80319c"
    chained["level"] = "info"
    assert obs_logging.line_buffer() is obs_logging._buffer
    obs_logging.flush_logs()
    direct = json.loads(_read(r))
    assert direct.keys() == chained.keys()
    assert {k: v for k, v in direct.items() if k != "timestamp"} == {
        k: v for k, v in chained.items() if k != "timestamp"
    }


def test_job_queue_messages_name_the_job_without_its_arguments() -> None:
    """A job's arguments (a mail's address, body, attachment) never reach the log: the job
    queue's messages name the task and id instead."""
    call = "notifications.send_email[7](to='anna@example.org', body='Hallo Anna …')"
    job = {"id": 7, "task_name": "notifications.send_email", "call_string": call}
    record = logging.LogRecord(
        "procrastinate.worker", logging.INFO, __file__, 1, f"Starting job {call}", None, None
    )
    record.job = job
    assert obs_logging._short_job_calls(record)
    assert record.getMessage() == "Starting job notifications.send_email[7]"
    other = logging.LogRecord("sichrplace.x", logging.INFO, __file__, 1, f"kept {call}", None, None)
    other.job = job
    assert obs_logging._short_job_calls(other)
    assert other.getMessage() == f"kept {call}"  # only the job queue's own lines
