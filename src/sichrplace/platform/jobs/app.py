"""The procrastinate App: one per process, and the pool the worker and admin commands use.

Enqueueing never touches this pool: `enqueue` runs procrastinate's defer SQL on the caller's
own SQLAlchemy connection. The pool here connects to the primary directly (not through
PgBouncer) because the worker LISTENs for new jobs, which needs a session-level connection.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from procrastinate import App, PsycopgConnector

from sichrplace.config import get_settings


def _connector(*, min_size: int = 1, max_size: int = 4) -> PsycopgConnector:
    settings = get_settings().db
    return PsycopgConnector(
        conninfo=settings.direct_dsn,
        min_size=min_size,
        max_size=max_size,
        kwargs={
            "connect_timeout": settings.connect_timeout_seconds,
            "application_name": f"sichrplace-jobs-{os.getpid()}",
        },
    )


# Tasks register on this app at import time; its connector is replaced when a pool is opened.
job_app = App(connector=_connector())


@asynccontextmanager
async def open_job_app(*, max_size: int = 4) -> AsyncIterator[App]:
    """Open a pool to the primary for the duration of the block (worker, CLI)."""
    with job_app.replace_connector(_connector(max_size=max_size)):
        async with job_app.open_async():
            yield job_app
