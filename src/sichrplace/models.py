"""Imports every domain's models so Alembic sees one complete metadata."""

from sichrplace.platform.db.base import Base

metadata = Base.metadata

__all__ = ["metadata"]
