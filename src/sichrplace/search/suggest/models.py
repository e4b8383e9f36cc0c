"""search_places: one row per city, district and postal code of the active listings, with
their number (migration 0015; refreshed by search.refresh_places, search/suggest/tasks.py)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, DateTime, Index, Integer, Text, func, text
from sqlalchemy.orm import Mapped, mapped_column

from sichrplace.platform.db.base import Base

KINDS = ("city", "district", "postal_code")


class SearchPlace(Base):
    __tablename__ = "search_places"
    __table_args__ = (
        CheckConstraint(f"kind IN ({', '.join(repr(k) for k in KINDS)})", name="kind"),
        # Completion: key LIKE 'prefix%' (text_pattern_ops: a range scan whatever the collation).
        Index("ix_search_places_key", text("key text_pattern_ops")),
    )

    kind: Mapped[str] = mapped_column(Text, primary_key=True)
    city_key: Mapped[str] = mapped_column(Text, primary_key=True)
    # What a prefix is matched against: the folded label (places.name_key), or the postal code.
    key: Mapped[str] = mapped_column(Text, primary_key=True)
    label: Mapped[str] = mapped_column(Text, nullable=False)  # the commonest spelling
    city: Mapped[str] = mapped_column(Text, nullable=False)  # the city's label
    listings: Mapped[int] = mapped_column(Integer, nullable=False)
    refreshed_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, server_default=func.now()
    )
