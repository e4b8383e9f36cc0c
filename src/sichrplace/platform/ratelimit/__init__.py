"""Redis-backed rate limiting, failing open when Redis is down: fixed-window counters kept by
the `limits` library, and growing delays after repeated failures (`backoff.py`)."""

from sichrplace.platform.ratelimit.backoff import GrowingDelay
from sichrplace.platform.ratelimit.limiter import Decision, FixedWindowLimiter

__all__ = ["Decision", "FixedWindowLimiter", "GrowingDelay"]
