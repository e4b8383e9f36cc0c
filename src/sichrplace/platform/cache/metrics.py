"""Cache counters (exported by the observability issue through the default registry)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge

# result: hit (from Redis or the near tier) | miss (this caller computed)
#         | coalesced (shared another caller's computation)
#         | error (Redis failed: computed directly) | bypass (cache off, circuit open, or asked)
CACHE_REQUESTS = Counter(
    "sichrplace_cache_requests_total",
    "Cache-aside lookups by domain and result.",
    ["domain", "result"],
)
CACHE_REDIS_ERRORS = Counter(
    "sichrplace_cache_redis_errors_total",
    "Redis calls made by the cache that failed or timed out (the cache then fails open).",
    ["operation"],
)
CACHE_NEAR_HITS = Counter(
    "sichrplace_cache_near_hits_total",
    "Hits answered by the per-process near tier without Redis (also counted as hits above).",
    ["domain"],
)
CACHE_NEAR_LIVE = Gauge(
    "sichrplace_cache_near_live",
    "1 while this process hears the cache's invalidations and so may use its near tier.",
)
