"""Cache-aside helpers: TTL per domain, stampede guard, fail-open, after-commit invalidation."""

from sichrplace.platform.cache.cache import Cache, RedisUnavailable
from sichrplace.platform.cache.dependencies import CacheDep, get_cache

__all__ = ["Cache", "CacheDep", "RedisUnavailable", "get_cache"]
