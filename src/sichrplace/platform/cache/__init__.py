"""Cache-aside helpers: TTL per domain, stampede guard, fail-open, after-commit invalidation."""

from sichrplace.platform.cache.cache import Cache, RedisUnavailable

__all__ = ["Cache", "RedisUnavailable"]
