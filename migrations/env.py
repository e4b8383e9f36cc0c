"""Alembic environment: migrations run on the primary directly (DDL and locks bypass PgBouncer)."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine, pool

from sichrplace.config import get_settings
from sichrplace.models import metadata

target_metadata = metadata


def include_object(
    obj: object, name: str | None, type_: str, reflected: bool, compare_to: object
) -> bool:
    """Autogenerate compares only our models: procrastinate's tables and other objects made by
    hand-written migrations (job_errors, PostGIS's spatial_ref_sys) are not in the metadata."""
    return not (type_ == "table" and reflected and compare_to is None)


def run_migrations_online() -> None:
    url = get_settings().db.direct_url
    engine = create_engine(url, poolclass=pool.NullPool)
    with engine.connect() as connection:
        context.configure(
            connection=connection, target_metadata=target_metadata, include_object=include_object
        )
        with context.begin_transaction():
            context.run_migrations()


def run_migrations_offline() -> None:
    context.configure(url=get_settings().db.direct_url, target_metadata=target_metadata)
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
