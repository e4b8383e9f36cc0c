"""The synthetic journeys' settings (`SICHRPLACE_SYNTHETIC_*`)."""

from __future__ import annotations

from functools import lru_cache

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class SyntheticSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SICHRPLACE_SYNTHETIC_")

    # Off: the worker schedules nothing (the staleness alert then fires: a monitor switched
    # off is a blind spot, and should be a decision someone silences).
    enabled: bool = True
    # When the worker runs all journeys (5 fields, or 6 with seconds last).
    cron: str = "*/5 * * * *"
    # The public entry point, as a client reaches it; empty: `app.public_base_url`.
    base_url: str = ""
    # The seeded city the search journey looks in.
    search_city: str = "Berlin"
    # How long the payment journey waits for the provider's webhook to confirm the viewing.
    confirm_timeout_seconds: float = Field(default=30.0, gt=0)
    # Each HTTP request's timeout; a whole journey is bounded by the sum of its steps.
    request_timeout_seconds: float = Field(default=10.0, gt=0)
    # A run older than this is not what the alert calls stale; the job's own lock expires
    # after it too (a crashed run does not block the next).
    run_timeout_seconds: float = Field(default=120.0, gt=0)


@lru_cache(maxsize=1)
def get_synthetic_settings() -> SyntheticSettings:
    return SyntheticSettings()
