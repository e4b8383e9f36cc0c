"""structlog JSON logs on stdout: one line per event with the request id, the trace and span
ids, a keyed hash for the user, and secrets redacted (docs/operations.md "Logs")."""

from __future__ import annotations

import atexit
import hashlib
import hmac
import logging
import os
import re
import threading
import time
from collections.abc import MutableMapping
from contextvars import ContextVar
from typing import Any

import orjson
import structlog
from opentelemetry import trace
from opentelemetry.trace import SpanContext

from sichrplace.config import LoggingSettings
from sichrplace.platform.secrets.provider import SecretsProvider

DEV_USER_HASH_KEY = "sichrplace-dev-log-key"
REDACTED = "[redacted]"

_user_hash_key = DEV_USER_HASH_KEY.encode()
# Per request, a dict the request's code adds facts to (the user's hash). A dict rather than
# values: a sync dependency runs in a copy of the context, and its changes to the dict are
# still seen by the middleware that logs the request.
_request_facts: ContextVar[dict[str, str] | None] = ContextVar("request_facts", default=None)

# Keys whose values never reach a log line (substring of the lower-cased key).
SECRET_KEYS = (
    "password",
    "passwd",
    "secret",
    "token",
    "authorization",
    "cookie",
    "api_key",
    "apikey",
    "iban",
    "card",
    "cvc",
    "cvv",
)
# Keys written by the platform itself with values that hold nothing personal: not scanned.
_SAFE_KEYS = frozenset(
    {
        "timestamp",
        "level",
        "request_id",
        "trace_id",
        "span_id",
        "route",
        "method",
        "status",
        "duration_ms",
        "user",
        "logger",
    }
)
# The domain ends in a letters-only label: "sichrplace@0.1.0+abc" (a release) is no address.
_EMAIL = re.compile(
    r"([A-Za-z0-9._%+-])[A-Za-z0-9._%+-]*@((?:[A-Za-z0-9-]+\.)+[A-Za-z]{2,})(?![A-Za-z0-9-])"
)
_BEARER = re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]+")
_JWT = re.compile(r"\beyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*")
_IBAN = re.compile(r"\b[A-Z]{2}\d{2}(?:[ ]?[A-Z0-9]{4}){2,7}(?:[ ]?[A-Z0-9]{1,3})?\b")
# A secret inside serialised text (a JSON body, a repr): "password": "..." or password=...
_KEYED = re.compile(
    r"(?i)([\"']?(?:password|passwd|secret|token|authorization|api_?key|iban|card_?number|cvc|cvv)"
    r"[\"']?\s*[:=]\s*)(\"[^\"]*\"|'[^']*'|[^\s,;&}]+)"
)
_CARD = re.compile(r"\b\d(?:[ -]?\d){12,18}\b")


def _luhn(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        n = int(ch)
        if i % 2 == 1:
            n = n * 2 - 9 if n > 4 else n * 2
        total += n
    return total % 10 == 0


def _card(match: re.Match[str]) -> str:
    digits = re.sub(r"\D", "", match.group(0))
    return "[card]" if _luhn(digits) else match.group(0)


def redact_text(text: str) -> str:
    """`text` with bearer tokens, JWTs, IBANs, card numbers (Luhn-valid) and the local part of
    e-mail addresses taken out."""
    if _KEYED.search(text):
        text = _KEYED.sub(r"\1" + f'"{REDACTED}"', text)
    if _BEARER.search(text):
        text = _BEARER.sub(r"\1 " + REDACTED, text)
    if "eyJ" in text:
        text = _JWT.sub("[jwt]", text)
    if "@" in text:
        text = _EMAIL.sub(r"\1***@\2", text)
    text = _IBAN.sub("[iban]", text)
    return _CARD.sub(_card, text)


def _redact_value(key: str, value: Any) -> Any:
    lowered = key.lower()
    if any(word in lowered for word in SECRET_KEYS):
        return REDACTED
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, dict):
        return {k: _redact_value(str(k), v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_redact_value(key, v) for v in value]
    return value


def _plain_name(value: Any) -> bool:
    """An event name as the code writes them ("request", "job_worker_started"): nothing to
    redact in it."""
    return isinstance(value, str) and value.replace("_", "").replace(".", "").isalpha()


def redact(_: Any, __: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """structlog processor: the event with secrets and personal data taken out."""
    for key, value in event.items():
        if key in _SAFE_KEYS or (key == "event" and _plain_name(value)):
            continue
        event[key] = _redact_value(key, value)
    return event


def add_trace_ids(_: Any, __: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """structlog processor: the current span's trace and span ids."""
    ctx = trace.get_current_span().get_span_context()
    if ctx.is_valid:
        event.setdefault("trace_id", format(ctx.trace_id, "032x"))
        event.setdefault("span_id", format(ctx.span_id, "016x"))
    return event


def user_hash(user_id: object) -> str:
    """A keyed hash (HMAC-SHA256, 16 hex) standing for a user in logs and traces."""
    digest = hmac.new(_user_hash_key, str(user_id).encode(), hashlib.sha256).hexdigest()
    return digest[:16]


def start_request_facts() -> dict[str, str]:
    facts: dict[str, str] = {}
    _request_facts.set(facts)
    return facts


def identify(user_id: object) -> None:
    """Note the request's (or job's) user: every later log line carries its hash, as does the
    request's access line and server span."""
    hashed = user_hash(user_id)
    facts = _request_facts.get()
    if facts is not None:
        facts["user"] = hashed
    structlog.contextvars.bind_contextvars(user=hashed)
    current = trace.get_current_span()
    if current.is_recording():
        current.set_attribute("enduser.hash", hashed)


def _orjson_dumps(event: Any, **_: Any) -> bytes:
    return orjson.dumps(event, default=repr)


def _orjson_text(event: Any, **_: Any) -> str:
    return orjson.dumps(event, default=repr).decode()


def add_timestamp(_: Any, __: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """structlog processor: `timestamp` in UTC, ISO 8601 with milliseconds."""
    event["timestamp"] = timestamp()
    return event


def timestamp() -> str:
    """Now in UTC, ISO 8601 with milliseconds. The part up to the second is formatted once per
    second and the milliseconds come from a table (structlog's stamper took ~2 µs a line)."""
    global _stamp
    milliseconds = int(time.time() * 1000)
    second, millisecond = divmod(milliseconds, 1000)
    stamped_second, prefix = _stamp  # one tuple: threads never see a half-updated pair
    if second != stamped_second:
        prefix = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
        _stamp = (second, prefix)
    return prefix + _MILLISECONDS[millisecond]


_MILLISECONDS = [f".{ms:03d}Z" for ms in range(1000)]
_stamp: tuple[int, str] = (-1, "")


class LineBuffer:
    """Log lines gathered and written to a file descriptor (stdout) a batch at a time: when
    64 KiB are waiting, every `interval` seconds, at exit, and at once after a warning or an
    error. One write per line cost an API process a system call per request, and whatever
    reads the pipe (supervisor, a container runtime) a wake-up per line. Every line of the
    process goes through here (structlog's and the standard library's), so lines never
    interleave. Lost on a hard kill: at most the last `interval` of info lines."""

    def __init__(self, fd: int = 1, *, max_bytes: int = 65536, interval: float = 0.2) -> None:
        self.fd = fd
        self.max_bytes = max_bytes
        self.interval = interval
        self._parts: list[bytes] = []
        self._size = 0
        self._lock = threading.Lock()
        self._start_flusher()
        os.register_at_fork(after_in_child=self._after_fork)
        atexit.register(self.flush)

    def _start_flusher(self) -> None:
        threading.Thread(target=self._run, name="log-flush", daemon=True).start()

    def _after_fork(self) -> None:
        self._lock = threading.Lock()
        self._parts, self._size = [], 0
        self._start_flusher()

    def _run(self) -> None:
        while True:
            time.sleep(self.interval)
            self.flush()

    def add(self, line: bytes, *, urgent: bool = False) -> None:
        with self._lock:
            self._parts.append(line)
            self._size += len(line)
            if urgent or self._size >= self.max_bytes:
                self._write_locked()

    def flush(self) -> None:
        with self._lock:
            self._write_locked()

    def _write_locked(self) -> None:
        if not self._parts:
            return
        data = memoryview(b"".join(self._parts))
        self._parts, self._size = [], 0
        while data:
            try:
                written = os.write(self.fd, data)
            except InterruptedError:
                continue
            except OSError:
                return  # stdout gone (a closed pipe): nothing to tell anyone
            data = data[written:]

    # A text stream's interface, for the standard library's StreamHandler.
    def write(self, text: str) -> int:
        self.add(text.encode(errors="replace"))
        return len(text)


def _line(message: bytes | str) -> bytes:
    # bytes from the JSON renderer, text from the console one
    return (message if isinstance(message, bytes) else message.encode()) + b"\n"


class BufferedLogger:
    """structlog logger over a `LineBuffer`: info and debug wait for the next batch, warnings
    and errors go out at once (with everything before them)."""

    def __init__(self, buffer: LineBuffer) -> None:
        self._buffer = buffer

    def msg(self, message: bytes | str) -> None:
        self._buffer.add(_line(message))

    def urgent(self, message: bytes | str) -> None:
        self._buffer.add(_line(message), urgent=True)

    debug = info = log = msg
    warning = warn = error = err = critical = exception = fatal = failure = urgent


_buffer: LineBuffer | None = None
# Set by configure_logging: JSON lines at INFO or below, so `access_line` may write directly.
_direct_access_lines = False


def access_line(
    method: str,
    route: str,
    status: int,
    duration_ms: float,
    facts: dict[str, str],
    request_id: str | None,
    ids: SpanContext | None,
) -> bool:
    """Write a request's access line (`event: "request"`) straight to the buffer, as the
    processor chain would render it; False when the chain must do it (console output, a level
    above INFO). Every value is one the platform wrote (method, route template, status,
    duration, request id, user hash; `ids`: the request's span, None to read the current one):
    nothing to redact. The chain took ~15 µs a line, this ~1.5; there is one per request."""
    if not _direct_access_lines:
        return False
    fields: dict[str, Any] = {
        "method": method,
        "route": route,
        "status": status,
        "duration_ms": duration_ms,
        **facts,
        "event": "request",
        "level": "info",
        "timestamp": timestamp(),
    }
    if request_id is not None:
        fields["request_id"] = request_id
    if ids is None:
        ids = trace.get_current_span().get_span_context()
    if ids.is_valid:
        fields["trace_id"] = format(ids.trace_id, "032x")
        fields["span_id"] = format(ids.span_id, "016x")
    line_buffer().add(orjson.dumps(fields, default=repr) + b"\n")
    return True


def _short_job_calls(record: logging.LogRecord) -> bool:
    """The job queue writes a job's call with all its arguments into its messages (a mail's
    addresses, body and attachment; at deferral, start and end): they name the job by task
    and id instead. Personal data stays out of the log, and redacting those kilobytes three
    times a job had been ~3/4 of a mail job's CPU in the worker."""
    job = getattr(record, "job", None)
    if isinstance(job, dict) and record.name.startswith("procrastinate"):
        call = job.get("call_string")
        if call and isinstance(record.msg, str):
            record.msg = record.msg.replace(call, f"{job.get('task_name')}[{job.get('id')}]")
    return True


def line_buffer() -> LineBuffer:
    """The process's buffer for stdout (made on first use)."""
    global _buffer
    if _buffer is None:
        _buffer = LineBuffer()
    return _buffer


def flush_logs() -> None:
    if _buffer is not None:
        _buffer.flush()


def configure_logging(settings: LoggingSettings, *, environment: str = "development") -> None:
    global _user_hash_key, _direct_access_lines
    _user_hash_key = (
        SecretsProvider(environment)
        .get(
            "SICHRPLACE_LOG_USER_HASH_KEY",
            value=settings.user_hash_key,
            file=settings.user_hash_key_file,
            default=DEV_USER_HASH_KEY,
            min_length=32,
        )
        .reveal()
        .encode()
    )
    level = logging.getLevelNamesMapping().get(settings.level.upper(), logging.INFO)
    _direct_access_lines = settings.json_output and level <= logging.INFO
    renderer: structlog.types.Processor = (
        # orjson: a third of the stdlib's time for an access line (one per request); bytes,
        # as the buffer writes them.
        structlog.processors.JSONRenderer(serializer=_orjson_dumps)
        if settings.json_output
        else structlog.dev.ConsoleRenderer(colors=False)
    )
    # The standard library's handler writes text.
    text_renderer: structlog.types.Processor = (
        structlog.processors.JSONRenderer(serializer=_orjson_text)
        if settings.json_output
        else renderer
    )
    shared: list[structlog.types.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        add_timestamp,
        add_trace_ids,
    ]
    structlog.configure(
        processors=[*shared, structlog.processors.format_exc_info, redact, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=lambda *_: BufferedLogger(line_buffer()),
        cache_logger_on_first_use=True,
    )
    handler = logging.StreamHandler(line_buffer())
    handler.addFilter(_short_job_calls)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                structlog.processors.format_exc_info,
                redact,
                text_renderer,
            ],
            foreign_pre_chain=shared,
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # httpx logs every request at INFO; outbound calls have their own metrics and spans
    # (platform/resilience), so those lines only repeated them, one per call.
    logging.getLogger("httpx").setLevel(max(level, logging.WARNING))
