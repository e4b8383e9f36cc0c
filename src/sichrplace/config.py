"""Settings: one pydantic-settings class per concern, all under the SICHRPLACE_ prefix."""

from __future__ import annotations

import getpass
import hashlib
import ipaddress
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def _default_data_dir() -> Path:
    # The postgres OS user must be able to enter every folder above its data directory, and a
    # checkout under a private home (root's is 0700) is not enterable: keep data under /var/tmp,
    # one folder per checkout so two clones do not share a database.
    tag = hashlib.sha1(str(PROJECT_ROOT).encode(), usedforsecurity=False).hexdigest()[:8]
    return Path("/var/tmp") / f"sichrplace-{getpass.getuser()}" / tag  # noqa: S108


class AppSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SICHRPLACE_APP_")

    environment: Literal["development", "test", "production"] = "development"
    git_sha: str = "unknown"
    max_json_body_bytes: int = 1024 * 1024
    max_upload_body_bytes: int = 10 * 1024 * 1024 + 64 * 1024
    drain_seconds: float = 2.0
    public_base_url: str = "http://127.0.0.1:58080"
    # Requests one process runs at once (platform/middleware.py AdmissionMiddleware); the
    # rest wait their turn, up to admission_max_wait_seconds, then 503. 0: no limit.
    max_active_requests: int = Field(default=4, ge=0)
    admission_max_wait_seconds: float = Field(default=10.0, gt=0)
    # Peers whose X-Forwarded-For/-Proto `sichrplace serve` believes (comma list, "*" = all):
    # the load balancer only. Anyone else's headers are ignored, so a client cannot choose
    # the address its login failures are counted against.
    forwarded_allow_ips: str = "127.0.0.1"
    # Where `npm ci` put the browser assets of package.json (the API docs pages' Swagger UI and
    # ReDoc); while they are missing, /docs and /redoc answer 503 problem+json.
    node_modules_dir: Path = PROJECT_ROOT / "node_modules"


class StackSettings(BaseSettings):
    """Ports and folders of the local production-like stack."""

    model_config = SettingsConfigDict(env_prefix="SICHRPLACE_STACK_")

    data_dir: Path = Field(default_factory=_default_data_dir)
    # The write and read endpoints (HAProxy): they reach whichever node Patroni made the
    # leader, and a streaming replica (the leader when none is healthy).
    primary_port: int = 55432
    replica_port: int = 55433
    # The Postgres nodes, their Patroni REST APIs, etcd and HAProxy's own page at fixed
    # offsets from one base port (`HaPorts`), so a second stack moves them all.
    ha_base_port: int = 55440
    pgbouncer_port: int = 56432
    redis_port: int = 56379
    api_base_port: int = 58001
    api_instances: int = 2
    nginx_port: int = 58080
    smtp_port: int = 58025
    workers: int = 1
    # Observability (docs/operations.md): Prometheus and Alertmanager on their own ports; the
    # exporters, the workers' /metrics, the OTLP receiver and the webhook receiver at fixed
    # offsets from one base port (`ObservabilityPorts`), so a second stack moves them all.
    prometheus_port: int = 59090
    alertmanager_port: int = 59093
    exporters_base_port: int = 59100
    # The local fake payment providers (sichrplace/stack/fake_payments/): Stripe's and
    # PayPal's wire formats, with an approval page standing in for the provider's checkout.
    stripe_fake_port: int = 58091
    paypal_fake_port: int = 58092
    # The fault-injecting proxy of the chaos matrix (stack/faultproxy.py): its control port,
    # then its listeners towards PgBouncer (+1) and Redis (+2), used by the APIs while armed.
    faultproxy_base_port: int = 56500


# A browser's Origin: scheme, host (a name, IPv4 or a bracketed IPv6) and optional port; no
# path, wildcard, quote or space (the values are written into nginx's config).
_ORIGIN = re.compile(
    r"https?://([a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*"
    r"|\[[0-9a-f:.]+\])(:[0-9]{1,5})?"
)


PurgerName = Literal["local", "fastly"]


class EdgeSettings(BaseSettings):
    """The public entry point (nginx): CORS, which proxies may say a request came over TLS, the
    edge cache (the local CDN) and who purges what a listing change makes stale.

    CORS, TLS proxies and the cache are rendered into nginx's config by `sichrplace stack up`
    (stack/render.py, stack/edge/conf.py); the purgers are built by the composition root.
    """

    model_config = SettingsConfigDict(env_prefix="SICHRPLACE_EDGE_")

    # nginx's proxy cache in front of the public reads (docs/operations.md, "The edge").
    cache_enabled: bool = True
    # Where nginx keeps the cached answers; empty: `nginx/cache/edge` in the stack's data
    # folder (nginx's workers and the purger must both reach it).
    cache_dir: Path = Path("")
    cache_max_size_mb: int = Field(default=1024, ge=16)
    # Keys in shared memory: 1 MB holds about 8,000 entries.
    cache_keys_zone_mb: int = Field(default=64, ge=1)
    # An entry nobody asked for this long is removed, fresh or not.
    cache_inactive_seconds: int = Field(default=900, ge=60)
    # Who is told to drop a changed listing's answers: the local edge (its tag index in Redis
    # and nginx's cache files), Fastly's purge API, or both (JSON list); empty: nobody (the
    # answers then expire by their s-maxage).
    purgers: list[PurgerName] = Field(default_factory=lambda: list[PurgerName](["local"]))
    # Fastly (https://www.fastly.com/documentation/reference/api/purging/): the service whose
    # cache holds our answers, its API token (a secret: the value or a file holding it), the
    # API's address (tests point it at a local fake), and soft purges (mark stale instead of
    # deleting: a stale object may still be served while the origin is down).
    fastly_service_id: str = ""
    fastly_api_token: SecretStr | None = None
    fastly_api_token_file: Path | None = None
    fastly_base_url: str = "https://api.fastly.com"
    fastly_soft_purge: bool = False
    fastly_timeout_seconds: float = Field(default=2.0, gt=0)
    fastly_connect_timeout_seconds: float = Field(default=1.0, gt=0)
    fastly_max_attempts: int = Field(default=4, ge=1)
    fastly_max_retry_after_seconds: float = Field(default=5.0, ge=0)
    fastly_breaker_failure_threshold: int = Field(default=5, ge=1)
    fastly_breaker_reset_seconds: float = Field(default=30.0, gt=0)

    # Origins whose browser scripts may call the API (JSON list, e.g.
    # '["https://app.sichrplace.de"]'). Empty: no CORS headers at all, same-origin only.
    cors_allow_origins: list[str] = Field(default_factory=list)
    # Addresses or networks of TLS-terminating proxies in front of nginx whose
    # `X-Forwarded-Proto: https` is believed (HSTS, and the scheme the API is told). Empty:
    # only a TLS listener of nginx itself counts as https.
    trusted_tls_proxies: list[str] = Field(default_factory=list)

    @field_validator("cors_allow_origins")
    @classmethod
    def _origins(cls, values: list[str]) -> list[str]:
        for value in values:
            if not _ORIGIN.fullmatch(value):
                raise ValueError(
                    f"{value!r} is not an origin like https://app.example.de (lower case, "
                    "no path, no trailing slash, no wildcard)"
                )
        return values

    @field_validator("trusted_tls_proxies")
    @classmethod
    def _networks(cls, values: list[str]) -> list[str]:
        return [str(ipaddress.ip_network(value, strict=False)) for value in values]


class DatabaseSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SICHRPLACE_DB_")

    host: str = "127.0.0.1"
    port: int = 56432  # PgBouncer
    direct_port: int = 55432  # the primary itself, for migrations and the job worker's LISTEN
    # The primary's address when it differs from the pooler's (Kubernetes: PgBouncer's Service
    # and the Patroni leader's, deploy/k8s); empty: `host`, as in the local stack.
    direct_host: str = ""
    name: str = "sichrplace"
    replica_name: str = "sichrplace_ro"
    user: str = "sichrplace"
    password: SecretStr = SecretStr("sichrplace-dev")
    # Client connections to PgBouncer are cheap to keep and dear to open (a SCRAM handshake
    # on both sides), so each engine keeps enough for the process's concurrent requests: an
    # overflow connection is opened and closed again for every request that needs one.
    pool_size: int = 32
    max_overflow: int = 16
    pool_timeout_seconds: float = 5.0
    connect_timeout_seconds: int = 3
    statement_timeout_ms: int = 5000
    replica_max_lag_seconds: float = 5.0
    replica_check_interval_seconds: float = 1.0

    def _url(self, port: int, name: str, driver: str = "postgresql+psycopg", host: str = "") -> str:
        pw = self.password.get_secret_value()
        return f"{driver}://{self.user}:{pw}@{host or self.host}:{port}/{name}"

    @property
    def primary_url(self) -> str:
        return self._url(self.port, self.name)

    @property
    def replica_url(self) -> str:
        return self._url(self.port, self.replica_name)

    @property
    def direct_url(self) -> str:
        return self._url(self.direct_port, self.name, host=self.direct_host)

    @property
    def direct_dsn(self) -> str:
        """libpq DSN of the primary itself (no pooler), for psycopg users outside SQLAlchemy."""
        return self._url(self.direct_port, self.name, driver="postgresql", host=self.direct_host)


class RedisSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SICHRPLACE_REDIS_")

    url: str = "redis://127.0.0.1:56379/0"
    socket_timeout_seconds: float = 0.5
    max_connections: int = 64


class SmtpSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SICHRPLACE_SMTP_")

    host: str = "127.0.0.1"
    port: int = 58025
    sender: str = "SichrPlace <no-reply@sichrplace.local>"
    timeout_seconds: float = 5.0


class LoggingSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SICHRPLACE_LOG_")

    level: str = "INFO"
    json_output: bool = True
    # One `request` line per API request (route, status, duration, ids). nginx keeps its own
    # access log too; this one carries what only the app knows (route template, user hash).
    access_log: bool = True
    # Key of the keyed hash (HMAC-SHA256) that stands for a user id in logs: the same user
    # gives the same value across lines and processes, nobody without the key can reverse it.
    # Resolved by the secrets provider: production refuses to start without one of its own.
    user_hash_key: SecretStr | None = None
    user_hash_key_file: Path | None = None


class TracingSettings(BaseSettings):
    """OpenTelemetry traces (docs/operations.md "Tracing")."""

    model_config = SettingsConfigDict(env_prefix="SICHRPLACE_TRACING_")

    # Off entirely: no provider, no spans, no context propagation (the on/off benchmark).
    enabled: bool = True
    # OTLP/HTTP traces URL, e.g. http://collector:4318/v1/traces; none: no export at all.
    otlp_endpoint: str | None = None
    service_name: str = "sichrplace-api"
    # Share of traces kept, decided once per trace from its id (the same answer in every
    # process that sees the trace: API, worker, a downstream service using the same ratio).
    # 1%: a sampled request records and exports ~5 spans, ~200 µs of CPU (a cached search
    # costs ~200 µs in all); at 0.1 that alone was ~10% of the cached path. At 2,500
    # requests/s per instance 1% still keeps 25 traces a second, and failures are kept anyway.
    sample_ratio: float = Field(default=0.01, ge=0, le=1)
    # Also export the root span of an unsampled request or job that failed (5xx, exception).
    keep_errors: bool = True
    export_timeout_seconds: float = Field(default=5.0, gt=0)
    max_queue_size: int = Field(default=8192, ge=1)


class SentrySettings(BaseSettings):
    """Error tracking; off unless a DSN is set."""

    model_config = SettingsConfigDict(env_prefix="SICHRPLACE_SENTRY_")

    dsn: SecretStr | None = None
    # Defaults to SICHRPLACE_APP_ENVIRONMENT.
    environment: str | None = None
    # Performance tracing stays with OpenTelemetry: Sentry gets errors only, linked by trace id.
    sample_rate: float = Field(default=1.0, ge=0, le=1)


class AuthSettings(BaseSettings):
    """Accounts: JWT keys (resolved by platform/secrets), token lifetimes, hashing, throttling."""

    model_config = SettingsConfigDict(env_prefix="SICHRPLACE_AUTH_")

    # JSON object {"<kid>": "<key>", ...}; a file (mounted secret) wins over the env value.
    jwt_keys: SecretStr | None = None
    jwt_keys_file: Path | None = None
    jwt_active_kid: str | None = None  # may be omitted when there is exactly one key
    jwt_issuer: str = "https://sichrplace.de"
    jwt_audience: str = "sichrplace-api"
    access_token_ttl_seconds: int = 900
    refresh_token_ttl_seconds: int = 14 * 86400
    session_max_age_seconds: int = 60 * 86400
    verify_email_ttl_seconds: int = 48 * 3600
    password_reset_ttl_seconds: int = 3600
    argon2_time_cost: int = 3
    argon2_memory_kib: int = 65536
    argon2_parallelism: int = 4
    # Login throttling (docs/adr/0009): growing delays per client address and per (account,
    # address) for clients without a device token; an account-wide lockout that applies to
    # untrusted clients only; a lockout per device token; an email to the owner on a burst.
    login_free_failures_per_ip: int = Field(default=20, ge=0)
    login_free_failures_per_account_ip: int = Field(default=5, ge=0)
    login_delay_base_seconds: float = Field(default=1.0, gt=0)
    login_delay_max_seconds: int = Field(default=900, ge=1)
    login_max_untrusted_failures_per_account: int = Field(default=10, ge=1)
    login_max_failures_per_device: int = Field(default=10, ge=1)
    login_failure_window_seconds: int = Field(default=900, ge=1)
    login_burst_failures: int = Field(default=10, ge=1)
    login_burst_window_seconds: int = Field(default=3600, ge=1)
    device_token_ttl_seconds: int = Field(default=180 * 86400, ge=60)
    # Session liveness in Redis (the database decides on a miss): how long a "live" answer
    # may be reused; a revocation overwrites it at once, this bounds a lost overwrite.
    session_cache_seconds: int = Field(default=60, ge=1)
    password_reset_mails_per_hour: int = 3


class JobSettings(BaseSettings):
    """Job queue (procrastinate): worker, heartbeats, stalled-job recovery, retry policy."""

    model_config = SettingsConfigDict(env_prefix="SICHRPLACE_JOBS_")

    concurrency: int = Field(default=4, ge=1)
    # Empty: every queue some registered task declares (plus the maintenance queue).
    queues: list[str] = Field(default_factory=list)
    # Extra modules the worker imports for their tasks (`sichrplace.**.tasks` are found alone).
    import_paths: list[str] = Field(default_factory=list)
    poll_interval_seconds: float = Field(default=5.0, gt=0)
    heartbeat_interval_seconds: float = Field(default=2.0, gt=0)
    stalled_timeout_seconds: float = Field(default=30.0, gt=0)
    recovery_interval_seconds: int = Field(default=10, ge=1, le=30)
    shutdown_timeout_seconds: float = Field(default=25.0, ge=0)
    max_attempts: int = Field(default=5, ge=1)
    backoff_base_seconds: float = Field(default=2.0, ge=0)
    backoff_max_seconds: float = Field(default=900.0, ge=0)
    backoff_jitter: float = Field(default=0.1, ge=0, le=1)
    maintenance_queue: str = "maintenance"
    succeeded_retention_hours: int = Field(default=72, ge=1)
    # How often each worker samples the queue table for the queue gauges (one small query).
    metrics_sample_seconds: float = Field(default=10.0, gt=0)


class MapsSettings(BaseSettings):
    """Google Geocoding API client: endpoint, key, resilience policy, Redis result cache."""

    model_config = SettingsConfigDict(env_prefix="SICHRPLACE_MAPS_")

    base_url: str = "https://maps.googleapis.com"
    # Resolved by platform/secrets: a mounted file wins; production refuses a missing key.
    api_key: SecretStr | None = None
    api_key_file: Path | None = None
    timeout_seconds: float = 3.0
    connect_timeout_seconds: float = 1.0
    max_attempts: int = Field(default=3, ge=1)
    quota_requests: int = Field(default=3000, ge=0)  # per window, all processes; 0 = no quota
    quota_window_seconds: int = Field(default=60, ge=1)
    breaker_failure_threshold: int = Field(default=5, ge=1)
    breaker_reset_seconds: float = Field(default=30.0, gt=0)
    cache_ttl_seconds: int = 30 * 86400
    negative_cache_ttl_seconds: int = 3600


def _media_root(name: str) -> Path:
    return StackSettings().data_dir / name


class MediaSettings(BaseSettings):
    """Listing images: public variant folder (nginx alias), private originals, limits."""

    model_config = SettingsConfigDict(env_prefix="SICHRPLACE_MEDIA_")

    media_dir: Path = Field(default_factory=lambda: _media_root("media"))  # public, nginx /media/
    originals_dir: Path = Field(default_factory=lambda: _media_root("media-originals"))  # private
    public_base_url: str = "/media/"
    max_upload_bytes: int = 10 * 1024 * 1024
    max_pixels: int = 50_000_000  # decompression-bomb cap, checked before decoding
    variant_widths: list[int] = Field(default_factory=lambda: [320, 800, 1600])
    webp_quality: int = Field(default=80, ge=1, le=100)


class CacheSettings(BaseSettings):
    """The read path: cache-aside TTLs per domain (the one table), stampede lock, fail-open
    circuit, the read-your-writes pinning window, and popular-listing view counters."""

    model_config = SettingsConfigDict(env_prefix="SICHRPLACE_CACHE_")

    enabled: bool = True
    # Whether a request may skip the cache of search and facets (`Cache-Control: no-cache` or
    # `X-Cache-Bypass: 1`, as the uncached benchmark does). Off in production unless set: any
    # client could otherwise send every search to Postgres.
    client_bypass: bool = True
    ttl_listing_seconds: float = Field(default=300.0, gt=0)
    ttl_search_seconds: float = Field(default=30.0, gt=0)
    ttl_facets_seconds: float = Field(default=60.0, gt=0)
    ttl_popular_seconds: float = Field(default=60.0, gt=0)
    # Search-box completions: their counts change only when search_places is refreshed.
    ttl_suggest_seconds: float = Field(default=300.0, gt=0)
    # The sitemap's page ranges (listings/service.py): as long as a crawler keeps the sitemap.
    ttl_sitemap_seconds: float = Field(default=3600.0, gt=0)
    # After its TTL a value is served stale for this long while one caller refreshes it. Every
    # listing change removes the listing's key and bumps search/facets/popular, so an expired
    # value that is still there has seen no write since: the window can be long.
    stale_while_revalidate_seconds: float = Field(default=600.0, ge=0)
    # The near tier (platform/cache/near.py): each API process keeps the values it read,
    # dropped as soon as any process announces a change, re-read from Redis in the background
    # when read after their domain's TTL, and dropped after near_max_age_seconds whatever
    # happens (0 turns the tier off). At most near_max_mb of values per process, and
    # near_refresh_concurrency background re-reads at a time.
    near_max_age_seconds: float = Field(default=3600.0, ge=0)
    near_max_mb: int = Field(default=32, ge=1)
    near_refresh_concurrency: int = Field(default=8, ge=1)
    # Cache-Control max-age of the anonymous answers of public reads (listing detail, search,
    # facets, popular, suggest): how long a browser or shared cache may reuse one without
    # asking. Short: an edit reaches our own cache at once but not those.
    http_max_age_seconds: int = Field(default=10, ge=0)
    # s-maxage for shared caches (the edge, a CDN) of answers that are purged when their
    # listing changes (the detail and its images): kept long, dropped at once on a change.
    http_shared_max_age_seconds: int = Field(default=300, ge=0)
    # s-maxage of answers that trail the data by minutes anyway and are not purged: popular
    # (from the rollups) and suggest (from search_places). Search and facets keep max-age.
    http_shared_max_age_slow_seconds: int = Field(default=60, ge=0)
    ttl_jitter: float = Field(default=0.1, ge=0, le=0.5)  # spreads expiries of keys filled together
    op_timeout_seconds: float = Field(default=0.2, gt=0)  # every Redis call; then fail open
    circuit_open_seconds: float = Field(default=5.0, ge=0)  # skip a failed Redis this long
    lock_ttl_ms: int = Field(default=5000, ge=10)  # a filler that died frees its key after this
    lock_wait_ms: int = Field(default=2000, ge=0)  # a waiter then computes by itself
    # A second invalidation this long after the first catches a fill that read a lagging replica.
    reinvalidate_after_seconds: float = Field(default=0.5, ge=0)
    read_your_writes_seconds: float = Field(default=5.0, ge=0)
    # The view-count flush updates listings rows that every index of the table must follow
    # (view_count is in the popular indexes, so no update is HOT; ~1.3 ms a row at 1M): in
    # chunks of this many rows, a transaction each, each followed by a pause of
    # `view_flush_pause_ratio` x the chunk's own time, so a minute's views do not take a core
    # for a second or two at once (docs/performance.md, "The mixed load").
    view_flush_batch: int = Field(default=50, ge=1)
    view_flush_pause_ratio: float = Field(default=3.0, ge=0)
    # How old the per-process statistics that pick search plans may get (search/plans/:
    # the grid of listing counts and its 2 % sample for radius searches, word frequencies for
    # full text); loading them reads every active listing's coordinates once.
    plan_stats_refresh_seconds: float = Field(default=600.0, gt=0)
    # How long an API process waits for them at start-up before serving without them.
    plan_stats_warm_seconds: float = Field(default=15.0, ge=0)
    # Facet counts computed at once per API process (platform/bulkhead.py); a request that
    # cannot start within the wait gets 503 + Retry-After.
    facets_max_concurrent: int = Field(default=2, ge=1)
    facets_max_wait_seconds: float = Field(default=4.0, gt=0)
    # Page views are buffered per API process and sent to Redis this often (well below the
    # 10 s grace the minute buckets get before they are sealed).
    view_buffer_seconds: float = Field(default=1.0, gt=0, le=5)

    def ttls(self) -> dict[str, float]:
        return {
            "listing": self.ttl_listing_seconds,
            "search": self.ttl_search_seconds,
            "facets": self.ttl_facets_seconds,
            "popular": self.ttl_popular_seconds,
            "suggest": self.ttl_suggest_seconds,
            "sitemap": self.ttl_sitemap_seconds,
        }


class SearchSettings(BaseSettings):
    """Which search backend answers (search/backends/, ADR 0005)."""

    model_config = SettingsConfigDict(env_prefix="SICHRPLACE_SEARCH_")

    # index: the in-process index, Postgres for the rest; postgres: Postgres alone.
    backend: Literal["index", "postgres"] = "index"


class FacetIndexSettings(BaseSettings):
    """The in-process index of the index backend (search/index/)."""

    model_config = SettingsConfigDict(env_prefix="SICHRPLACE_FACET_INDEX_")

    enabled: bool = True
    # More changed listings than this since the full load: load everything again. The old
    # snapshot keeps answering (following the changes) while the new one loads, up to
    # max_changes_while_reloading changes; each process starts that reload after a random
    # delay of up to reload_after_changes_spread seconds (a bulk import is seen by all at once).
    max_changes: int = Field(default=50_000, ge=1)
    max_changes_while_reloading: int = Field(default=100_000, ge=1)
    reload_after_changes_spread: float = Field(default=5.0, ge=0)
    # A full load about this often (catches what no stamp shows: a row changed by hand with
    # the triggers disabled), spread by up to reload_spread of it either way per process.
    reload_seconds: float = Field(default=3600.0, gt=0)
    reload_spread: float = Field(default=0.2, ge=0, lt=1)
    # Full text counted in the index only for lexemes at least this common (pg_stats); the
    # GIN index answers rarer ones cheaply. Postings (one bool per listing) of at most
    # max_lexemes lexemes per process.
    min_word_share: float = Field(default=0.01, ge=0, le=1)
    max_lexemes: int = Field(default=64, ge=1)
    # A count waits this long for postings being loaded, then asks Postgres.
    postings_wait_seconds: float = Field(default=8.0, ge=0)
    # Between requests, changes are looked for this often (requests look before each count).
    look_interval_seconds: float = Field(default=5.0, gt=0)
    # A count or page may use a look for changes that began at most this long before the
    # request arrived (a bound like the replica's lag); 0: always a look begun after it. At
    # most 0.25: the second invalidation of cached lists after a listing write allows for it
    # (listings/invalidation.py).
    max_staleness_seconds: float = Field(default=0.25, ge=0, le=0.25)


class PaymentsSettings(BaseSettings):
    """Payments (payments/, integrations/payments/): the provider, its endpoints and secrets,
    the fees. Amounts are integer cents; every amount is decided by the server."""

    model_config = SettingsConfigDict(env_prefix="SICHRPLACE_PAYMENTS_")

    # New payments go to this provider; webhooks of both are accepted.
    provider: Literal["stripe", "paypal"] = "stripe"
    currency: Literal["EUR"] = "EUR"
    viewing_fee_cents: int = Field(default=2500, ge=50)
    # Stripe (PaymentIntents API, https://docs.stripe.com/api/payment_intents).
    stripe_api_base: str = "https://api.stripe.com"
    stripe_secret_key: SecretStr | None = None
    stripe_secret_key_file: Path | None = None
    stripe_webhook_secret: SecretStr | None = None
    stripe_webhook_secret_file: Path | None = None
    # Stripe-Signature: a timestamp older (or newer) than this is refused (replays).
    stripe_webhook_tolerance_seconds: int = Field(default=300, ge=1)
    # PayPal (Orders v2, https://developer.paypal.com/docs/api/orders/v2/).
    paypal_api_base: str = "https://api-m.paypal.com"
    paypal_client_id: str = ""
    paypal_client_secret: SecretStr | None = None
    paypal_client_secret_file: Path | None = None
    paypal_webhook_id: str = ""
    # Outbound calls (platform/resilience), per provider.
    timeout_seconds: float = Field(default=5.0, gt=0)
    connect_timeout_seconds: float = Field(default=2.0, gt=0)
    max_attempts: int = Field(default=3, ge=1)
    breaker_failure_threshold: int = Field(default=5, ge=1)
    breaker_reset_seconds: float = Field(default=30.0, gt=0)
    # Where the provider sends the payer back after approval (a path under the public URL).
    return_path: str = "/viewings"
    # The reconciliation job compares the ledger with the provider this often.
    reconcile_cron: str = "*/30 * * * *"


class ViewingsSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SICHRPLACE_VIEWINGS_")

    # An unpaid booking frees its slot after this long (status "expired").
    payment_window_minutes: int = Field(default=15, ge=1)
    timezone: str = "Europe/Berlin"
    # Slots: at least this long, at most this long, at most this far ahead.
    min_slot_minutes: int = Field(default=10, ge=1)
    max_slot_minutes: int = Field(default=240, ge=1)
    max_days_ahead: int = Field(default=180, ge=1)


class MessagingSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SICHRPLACE_MESSAGING_")

    # Sending (a new conversation's first message included) is limited per user: at most
    # this many sends per window, counted in Redis across all instances.
    send_limit: int = Field(default=30, ge=1)
    send_window_seconds: int = Field(default=60, ge=1)
    # A new message is emailed to its recipient this long after it was sent, and only if it
    # is still unread then: a burst of messages makes one email, a quick reader gets none.
    unread_email_delay_seconds: int = Field(default=600, ge=0)


class NotificationsSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SICHRPLACE_NOTIFICATIONS_")

    # In-app notifications older than this are deleted, read or not (the daily job
    # `notifications.prune`): they point at messages and viewings, which keep the record.
    retention_days: int = Field(default=180, ge=1)
    # Sent emails' dedupe keys are kept this long: far beyond any retry of a send job.
    sent_email_retention_days: int = Field(default=90, ge=1)


class EventsSettings(BaseSettings):
    """The per-user event stream (`GET /api/v1/events`, platform/events)."""

    model_config = SettingsConfigDict(env_prefix="SICHRPLACE_EVENTS_")

    # A comment line after this long without a write keeps idle streams open through nginx
    # and proxies (nginx's proxy_read_timeout for the stream is far longer).
    heartbeat_seconds: float = Field(default=15.0, gt=0)
    # The reconnection delay a client is told once per stream (`retry:`).
    retry_ms: int = Field(default=2000, ge=0)
    # Postgres is checked for events newer than each stream's last one this often (one query
    # per process for all its streams), so an event whose publish was lost still arrives;
    # more often while the Redis connection is down.
    poll_seconds: float = Field(default=20.0, gt=0)
    degraded_poll_seconds: float = Field(default=2.0, gt=0)
    # Open streams per user on one instance (the next: 429), and per instance (503).
    max_streams_per_user: int = Field(default=5, ge=1)
    max_streams: int = Field(default=5000, ge=1)
    retry_after_seconds: int = Field(default=5, ge=1)
    # Events read from Postgres per query when a stream replays or catches up.
    replay_page: int = Field(default=500, ge=1)
    # Events waiting for one slow stream; beyond them it catches up from Postgres instead.
    queue_size: int = Field(default=256, ge=1)
    # How long a new stream waits for Redis to confirm its subscription before it starts
    # (while Redis is down it starts at once and is caught up by the checks above).
    subscribe_wait_seconds: float = Field(default=2.0, ge=0)
    # The hub's Redis connection: a PING this often, reconnect when nothing came back for
    # three of them; reconnect attempts back off from min to max.
    redis_ping_seconds: float = Field(default=5.0, gt=0)
    reconnect_min_seconds: float = Field(default=0.1, gt=0)
    reconnect_max_seconds: float = Field(default=5.0, gt=0)
    # Events older than this are deleted (the daily job `events.prune`): a client away longer
    # starts from now and reloads what it shows (messages, notifications) from their APIs.
    retention_days: int = Field(default=30, ge=1)


class AnalyticsSettings(BaseSettings):
    """Analytics (sichrplace/analytics): raw events in daily partitions, rollups, the buffer."""

    model_config = SettingsConfigDict(env_prefix="SICHRPLACE_ANALYTICS_")

    # Off: nothing is recorded (the record calls return at once); rollups and stats still read.
    enabled: bool = True
    # Raw events (listing_views, search_events, journey_events) are kept this many days: the
    # hourly maintenance job writes it into partman.part_config and pg_partman drops older
    # daily partitions. The rollups are kept.
    retention_days: int = Field(default=90, ge=2)
    # Daily partitions made ahead of today (pg_partman's premake).
    premake_days: int = Field(default=7, ge=1)
    # Each API process sends its buffered events in one statement this often, or sooner
    # when this many are waiting; beyond `buffer_capacity` waiting events new ones are
    # dropped and counted (sichrplace_analytics_events_dropped_total), never an error.
    flush_seconds: float = Field(default=1.0, gt=0)
    flush_batch: int = Field(default=5000, ge=1)
    buffer_capacity: int = Field(default=50_000, ge=1)
    flush_timeout_seconds: float = Field(default=5.0, gt=0)
    # GET /listings/popular ranks by the views of this many days (listing_daily).
    popular_days: int = Field(default=7, ge=1)
    # GET /listings/{id}/stats: the days shown without `from`, and the longest range asked.
    stats_default_days: int = Field(default=30, ge=1)
    stats_max_days: int = Field(default=366, ge=1)


class BackupSettings(BaseSettings):
    """Backups and point-in-time recovery with pgBackRest (sichrplace/stack/backup,
    docs/operations.md "Backups and point-in-time recovery")."""

    model_config = SettingsConfigDict(env_prefix="SICHRPLACE_BACKUP_")

    stanza: str = Field(default="sichrplace", pattern=r"^[a-z][a-z0-9_-]*$")
    # The repository; default `<stack data folder>/backup/repo`. In production a separate
    # disk or an object store (pgBackRest's repo1-type), never the database's own disk.
    repo_path: Path | None = None
    # Retention (pgBackRest's expire runs after every backup): full backups kept (older ones
    # and the diffs and WAL that need them are dropped), differential backups kept, and the
    # full backups whose WAL is kept for point-in-time recovery (the archive's retention:
    # with 2 weekly fulls, PITR reaches back 7 to 14 days).
    retention_full: int = Field(default=2, ge=1)
    retention_diff: int = Field(default=7, ge=1)
    retention_archive_full: int = Field(default=2, ge=1)
    # A WAL segment is switched and archived at the latest this long after a commit: the
    # RPO of losing the primary and its replica together (30 s + the push, inside 60 s).
    archive_timeout_seconds: int = Field(default=30, ge=5, le=60)
    # WAL the primary keeps for a lagging or absent replica's slot before it gives the slot
    # up (the replica then reads the archive through its restore_command).
    max_slot_wal_keep_size_mb: int = Field(default=8192, ge=1024)
    compress_type: Literal["lz4", "zst", "gz", "none"] = "lz4"
    process_max: int = Field(default=2, ge=1)
    # Schedules (cron, UTC): a full backup weekly, a differential on the other days, the
    # restore drill weekly (away from the backups).
    full_cron: str = "7 1 * * 0"
    diff_cron: str = "7 1 * * 1-6"
    drill_cron: str = "37 3 * * 3"
    # A drill fails above these (docs/operations.md: how they are measured).
    rpo_target_seconds: float = Field(default=60.0, gt=0)
    rto_target_seconds: float = Field(default=300.0, gt=0)
    # Marker rows the drill writes, one every `drill_marker_interval_seconds`.
    drill_markers: int = Field(default=6, ge=2)
    drill_marker_interval_seconds: float = Field(default=1.0, gt=0)
    # Markers older than this are deleted by the drill.
    drill_marker_retention_days: int = Field(default=30, ge=1)


class WebSettings(BaseSettings):
    """The server-rendered pages (sichrplace/web): their cookies, assets and map tiles."""

    model_config = SettingsConfigDict(env_prefix="SICHRPLACE_WEB_")

    # Secure cookies (and their __Host- names). Browsers accept them from http://localhost and
    # http://127.0.0.1 too (potentially trustworthy origins), so the local stack keeps them.
    secure_cookies: bool = True
    # Where `sichrplace web build` writes the content-hashed assets and their manifest; nginx
    # serves them under /static/ (the app too, for tests that talk to one instance). Default:
    # `static` in the stack's data folder (nginx's workers can read it; a checkout under a
    # private home they could not).
    static_dir: Path = Path("static")
    # The map's tiles ({z}/{x}/{y}); unreachable tiles leave the markers on a blank map.
    tile_url: str = "https://tile.openstreetmap.org/{z}/{x}/{y}.png"
    tile_attribution: str = "© OpenStreetMap contributors"
    # Share of page views whose Core Web Vitals the browser reports (POST /api/v1/rum).
    rum_sample_rate: float = Field(default=1.0, ge=0, le=1)
    # Reports one client address may send per minute (beyond: 429, nothing recorded).
    rum_per_minute: int = Field(default=120, ge=1)
    # Signs the forms' CSRF tokens (HMAC of the browser's random CSRF cookie). Set it in
    # production; the default is for development only.
    csrf_secret: SecretStr = SecretStr("development-only-csrf-secret")
    # Listings (of any status) per sitemap page: at most this many active listings when the
    # pages' id ranges are cut (hourly), leaving room for those published until the next cut
    # below the protocol's 50,000 URLs per file (1M listings: ~23 pages).
    sitemap_page_size: int = Field(default=45_000, ge=1000, le=50_000, multiple_of=1000)


class Settings:
    """All settings, grouped by concern."""

    def __init__(self) -> None:
        self.app = AppSettings()
        self.stack = StackSettings()
        self.edge = EdgeSettings()
        self.db = DatabaseSettings()
        self.redis = RedisSettings()
        self.smtp = SmtpSettings()
        self.log = LoggingSettings()
        self.tracing = TracingSettings()
        self.sentry = SentrySettings()
        self.jobs = JobSettings()
        self.auth = AuthSettings()
        self.maps = MapsSettings()
        self.media = MediaSettings()
        self.cache = CacheSettings()
        self.search = SearchSettings()
        self.facet_index = FacetIndexSettings()
        self.payments = PaymentsSettings()
        self.viewings = ViewingsSettings()
        self.messaging = MessagingSettings()
        self.events = EventsSettings()
        self.notifications = NotificationsSettings()
        self.web = WebSettings()
        self.backup = BackupSettings()
        self.analytics = AnalyticsSettings()
        self._follow_stack_ports()
        self._production_defaults()

    def _follow_stack_ports(self) -> None:
        """Unless set explicitly, clients connect where the local stack listens."""
        stack = self.stack
        if "port" not in self.db.model_fields_set:
            self.db.port = stack.pgbouncer_port
        if "direct_port" not in self.db.model_fields_set:
            self.db.direct_port = stack.primary_port
        if "url" not in self.redis.model_fields_set:
            self.redis.url = f"redis://127.0.0.1:{stack.redis_port}/0"
        if "port" not in self.smtp.model_fields_set:
            self.smtp.port = stack.smtp_port
        if "static_dir" not in self.web.model_fields_set:
            self.web.static_dir = stack.data_dir / "static"
        if "cache_dir" not in self.edge.model_fields_set:
            self.edge.cache_dir = stack.data_dir / "nginx" / "cache" / "edge"
        if "public_base_url" not in self.app.model_fields_set:
            self.app.public_base_url = f"http://127.0.0.1:{stack.nginx_port}"
        if self.app.environment != "production":
            # Outside production the providers are the stack's fakes unless set explicitly.
            if "stripe_api_base" not in self.payments.model_fields_set:
                self.payments.stripe_api_base = f"http://127.0.0.1:{stack.stripe_fake_port}"
            if "paypal_api_base" not in self.payments.model_fields_set:
                self.payments.paypal_api_base = f"http://127.0.0.1:{stack.paypal_fake_port}"

    def _production_defaults(self) -> None:
        """Defaults that differ in production, unless set explicitly."""
        if self.app.environment != "production":
            return
        if "client_bypass" not in self.cache.model_fields_set:
            self.cache.client_bypass = False


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()


def secret_is_default(value: SecretStr, default: str) -> bool:
    return value.get_secret_value() in ("", default)


@dataclass(frozen=True)
class HaPorts:
    """Where the high-availability pieces listen: fixed offsets from
    `SICHRPLACE_STACK_HA_BASE_PORT` (55440 by default)."""

    base: int

    def node(self, index: int) -> int:
        """Postgres of node `index` (1-based)."""
        return self.base + index - 1

    def patroni(self, index: int) -> int:
        """Patroni's REST API of node `index` (health checks, switchover, /metrics)."""
        return self.base + 7 + index

    @property
    def etcd_client(self) -> int:
        return self.base + 20

    @property
    def etcd_peer(self) -> int:
        return self.base + 21

    @property
    def haproxy_stats(self) -> int:
        """HAProxy's status page and /metrics."""
        return self.base + 30


@dataclass(frozen=True)
class ObservabilityPorts:
    """Where the stack's exporters and receivers listen: fixed offsets from
    `SICHRPLACE_STACK_EXPORTERS_BASE_PORT` (59100 by default, the exporters' usual last two
    digits where they fit)."""

    base: int

    @property
    def node_exporter(self) -> int:
        return self.base

    @property
    def nginx_exporter(self) -> int:
        return self.base + 13

    @property
    def blackbox_exporter(self) -> int:
        return self.base + 15

    @property
    def otlp_receiver(self) -> int:
        """OTLP/HTTP (protobuf) traces receiver."""
        return self.base + 18

    @property
    def redis_exporter(self) -> int:
        return self.base + 21

    @property
    def pgbouncer_exporter(self) -> int:
        return self.base + 27

    def worker_metrics(self, index: int) -> int:
        """/metrics of job worker `index` (1-based)."""
        return self.base + 40 + index - 1

    @property
    def postgres_exporter_primary(self) -> int:
        return self.base + 87

    @property
    def postgres_exporter_replica(self) -> int:
        return self.base + 88

    @property
    def webhook_receiver(self) -> int:
        """The local stand-in for Slack and Teams webhooks (Alertmanager's receivers)."""
        return self.base + 99
