"""One call a process makes at start: logs, traces and error tracking, from the settings."""

from __future__ import annotations

from sichrplace.config import Settings
from sichrplace.platform.observability.errors import setup_error_tracking
from sichrplace.platform.observability.logging import configure_logging
from sichrplace.platform.observability.tracing import setup_tracing


def setup_observability(settings: Settings, *, service: str) -> None:
    """`service`: "api" or "worker" (the span's service.name is `<tracing.service_name>` for
    the API and `sichrplace-worker` for workers)."""
    configure_logging(settings.log, environment=settings.app.environment)
    name = settings.tracing.service_name if service == "api" else f"sichrplace-{service}"
    setup_tracing(settings.tracing, service_name=name)
    setup_error_tracking(settings, service=service)
