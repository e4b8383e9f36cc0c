"""Error tracking with Sentry (when `SICHRPLACE_SENTRY_DSN` is set): release, environment,
the OpenTelemetry trace id on every event, and the same scrubbing as the logs."""

from __future__ import annotations

import contextlib
import subprocess
from typing import Any

import structlog

from sichrplace import __version__
from sichrplace.config import PROJECT_ROOT, Settings
from sichrplace.platform.observability import logging as obs_logging
from sichrplace.platform.observability import tracing

log = structlog.get_logger(__name__)

_enabled = False
# Event fields we set ourselves, with nothing personal in them: not scrubbed.
_OURS = frozenset({"release", "environment", "server_name", "event_id", "timestamp", "platform"})


def git_sha(settings: Settings) -> str:
    """SICHRPLACE_APP_GIT_SHA (set by the image build), else the checkout's HEAD, else
    "unknown"."""
    if settings.app.git_sha != "unknown":
        return settings.app.git_sha
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short=12", "HEAD"],
            cwd=PROJECT_ROOT,
            capture_output=True,
            text=True,
            timeout=2,
            check=True,
        )
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return out.stdout.strip() or "unknown"


def release(settings: Settings) -> str:
    return f"sichrplace@{__version__}+{git_sha(settings)}"


def scrub(value: Any, key: str = "") -> Any:
    """`value` with secrets and personal data taken out, by key name and by content (the rules
    of the logs: observability/logging.py)."""
    if key and any(word in key.lower() for word in obs_logging.SECRET_KEYS):
        return obs_logging.REDACTED
    if isinstance(value, str):
        return obs_logging.redact_text(value)
    if isinstance(value, dict):
        return {k: scrub(v, str(k)) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [scrub(v, key) for v in value]
    return value


def before_send(event: dict[str, Any], hint: dict[str, Any]) -> dict[str, Any] | None:
    """Link the event to its trace and request, then scrub it whole."""
    tags = event.setdefault("tags", {})
    ids = tracing.current_ids()
    if ids is not None:
        trace_id, span_id = ids
        tags["trace_id"] = trace_id
        # Sentry shows an event's trace from contexts.trace: ours, not one of its own.
        event.setdefault("contexts", {})["trace"] = {"trace_id": trace_id, "span_id": span_id}
    bound = structlog.contextvars.get_contextvars()
    for name in ("request_id", "user"):
        if bound.get(name):
            tags[name] = bound[name]
    # Whatever an integration put there: the user is only ever the hash in tags.
    event.pop("user", None)
    request = event.get("request")
    if isinstance(request, dict):
        request.pop("cookies", None)
        request.pop("data", None)
    return {k: v if k in _OURS else scrub(v, k) for k, v in event.items()}


def setup_error_tracking(settings: Settings, *, service: str) -> bool:
    """Start the Sentry client when a DSN is set; True when it runs."""
    global _enabled
    dsn = settings.sentry.dsn
    if dsn is None or not dsn.get_secret_value():
        return False
    import sentry_sdk

    sentry_sdk.init(
        dsn=dsn.get_secret_value(),
        release=release(settings),
        environment=settings.sentry.environment or settings.app.environment,
        server_name=service,
        sample_rate=settings.sentry.sample_rate,
        # No user, cookies or bodies from integrations (send_default_pii=False's successor).
        # No frame variables either: they hold request bodies and tokens in any shape.
        data_collection={
            "user_info": False,
            "http_bodies": [],
            "database_query_data": False,
            "stack_frame_variables": False,
        },
        # Errors only: traces are OpenTelemetry's. No auto-enabled integrations: they wrap
        # Starlette, SQLAlchemy, Redis and httpx calls, a cost on every request for nothing
        # we use; errors are reported where they are handled (report_exception).
        traces_sample_rate=None,
        auto_enabling_integrations=False,
        before_send=before_send,  # type: ignore[arg-type]
    )
    sentry_sdk.set_tag("service", service)
    _enabled = True
    log.info("error_tracking_on", release=release(settings))
    return True


_NOTED = "__sichrplace_noted__"


def note_unhandled(exc: BaseException, **facts: Any) -> None:
    """Log and report an exception escaping a request or job while its request id and span
    are still current (Starlette answers the 500 outside every middleware, where they are
    not). The 500 handler then skips it (`already_noted`)."""
    log.error("unhandled_error", exc_info=exc, **facts)
    report_exception(exc)
    # An exception type with __slots__ cannot be marked: noted twice at worst.
    with contextlib.suppress(AttributeError):
        setattr(exc, _NOTED, True)


def already_noted(exc: BaseException) -> bool:
    return bool(getattr(exc, _NOTED, False))


def report_exception(exc: BaseException) -> None:
    """Send `exc` to Sentry (nothing when it is off)."""
    if not _enabled:
        return
    import sentry_sdk

    sentry_sdk.capture_exception(exc)


def flush(timeout: float = 5.0) -> None:
    if _enabled:
        import sentry_sdk

        sentry_sdk.flush(timeout)


def shutdown() -> None:
    """Stop the client (tests start one of their own)."""
    global _enabled
    if _enabled:
        import sentry_sdk

        sentry_sdk.get_client().close(timeout=2)
        _enabled = False
