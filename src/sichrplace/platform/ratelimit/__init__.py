"""Redis-backed rate limiting (fixed-window counters kept by the `limits` library), failing
open when Redis is down."""

from sichrplace.platform.ratelimit.limiter import Decision, FixedWindowLimiter

__all__ = ["Decision", "FixedWindowLimiter"]
