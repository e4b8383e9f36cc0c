"""The database a job handler uses: one `Database` per worker process, made on first use."""

from __future__ import annotations

from sichrplace.config import get_settings
from sichrplace.platform.db.engines import Database


class _Holder:
    db: Database | None = None


def job_db() -> Database:
    """Handlers open their unit of work with `transaction(job_db())` (through PgBouncer)."""
    if _Holder.db is None:
        _Holder.db = Database(get_settings().db)
    return _Holder.db


async def close_job_db() -> None:
    db, _Holder.db = _Holder.db, None
    if db is not None:
        await db.dispose()
