"""nginx's edge cache (the local CDN), rendered into three files that nginx.conf includes:

- `edge-cache.conf` (http level): the cache zone, the maps deciding what skips the cache and
  what is logged, and the two log formats of the `edge` program;
- `edge-proxy.conf`: what every cached location does (included by each);
- `edge-locations.conf` (server level): the cached locations, the public reads.

With `SICHRPLACE_EDGE_CACHE_ENABLED=false` the locations are not rendered: every request goes
to `location /` as before. Cached answers keep their `Surrogate-Key` (the index needs it) but
clients never see it, and their `s-maxage` is for this edge only (it is purged on a change;
a cache behind it would not be), unless Fastly's purger is configured: then a real CDN in
front of nginx needs both.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sichrplace.config import Settings
from sichrplace.stack.layout import Layout

# What an answer varies on (the cache key): host, path and query, and the language the API
# answers problems in (its 2xx bodies are the same in both). No method: only GET and HEAD
# are cached, and a HEAD is fetched as a GET (proxy_cache_convert_head), so they share one
# entry. No Accept-Encoding: the API is asked for identity and nginx compresses per client.
CACHE_KEY = "$host$request_uri|$problem_lang"
ZONE = "edge"
FILL_LOG = "edge-fill.log"
VIEW_LOG = "edge-views.log"
LOGS = (FILL_LOG, VIEW_LOG)
_UUID = "[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
DETAIL_PATTERN = f"^/api/v1/listings/({_UUID})$"
IMAGES_PATTERN = f"^/api/v1/listings/{_UUID}/images(?:/{_UUID})?$"
# The public reads kept at the edge, by exact path (the detail and images by pattern).
EXACT_PATHS = (
    "/api/v1/search/listings",
    "/api/v1/search/facets",
    "/api/v1/search/suggest",
    "/api/v1/listings/popular",
    "/api/v1/listings/sitemap",
    "/api/v1/listings/sitemap/pages",
)


@dataclass(frozen=True, slots=True)
class EdgeConf:
    cache: str
    proxy: str
    locations: str


def _passes_surrogates(settings: Settings) -> bool:
    """Whether a real CDN in front of nginx needs the keys and s-maxage (Fastly's purger)."""
    return "fastly" in settings.edge.purgers


def cache_dir(settings: Settings, layout: Layout) -> Path:
    """Where the cache lives: the setting (which follows the stack's data folder), else the
    layout's (settings made without the stack's, as a throwaway nginx of a test has)."""
    configured = settings.edge.cache_dir
    return configured if str(configured) not in ("", ".") else layout.nginx / "cache" / "edge"


def cache_conf(settings: Settings, layout: Layout) -> str:
    edge = settings.edge
    if not edge.cache_enabled:
        return "# The edge cache is off (SICHRPLACE_EDGE_CACHE_ENABLED=false).\n"
    client_skip = (
        '    "~*^(?:1|true)\\|" 1;\n    "~*\\|.*no-cache" 1;\n'
        if settings.cache.client_bypass
        else ""
    )
    folder = cache_dir(settings, layout)
    return f"""# Rendered by `sichrplace stack up` (stack/edge/conf.py): the edge, nginx's proxy
# cache in front of the public reads (docs/operations.md, "The edge (local CDN)").
proxy_cache_path {folder} levels=1:2 keys_zone={ZONE}:{edge.cache_keys_zone_mb}m
    max_size={edge.cache_max_size_mb}m inactive={edge.cache_inactive_seconds}s use_temp_path=off;

# Never answered from the cache nor stored: a caller with credentials (the API's bearer
# token, the web pages' session cookies), and one asking to skip caches (the uncached
# benchmark) where the API allows that too (SICHRPLACE_CACHE_CLIENT_BYPASS).
map $http_authorization $edge_skip_auth {{
    default 1;
    "" 0;
}}
map $http_cookie $edge_skip_session {{
    default 0;
    "~(?:^|;)\\s*(?:__Host-)?sp_(?:access|refresh)=" 1;
}}
map "$http_x_cache_bypass|$http_cache_control" $edge_skip_client {{
    default 0;
{client_skip}}}
# With a cache, nginx sends the API its own validator (to revalidate a stored entry) instead
# of the client's; a request that skips the cache keeps the client's, so a signed-in
# caller's revalidation still ends in the API's 304.
map "$edge_skip_auth$edge_skip_session$edge_skip_client" $edge_if_none_match {{
    "000" $upstream_cache_etag;
    default $http_if_none_match;
}}

# A view of a listing's detail served from the cache (the API counts those it answers): the
# `edge` program counts it like the API does, except a synthetic monitor's.
map "$upstream_cache_status|$status|$request_method|$http_x_synthetic" $edge_view {{
    default 0;
    "~*^(?:HIT|STALE|UPDATING)\\|(?:200|304)\\|GET\\|(?!\\s*(?:1|true)\\s*$)" 1;
}}
# An answer stored (or revalidated) with surrogate keys: the purge index learns it.
map "$upstream_cache_status|$status|$upstream_http_surrogate_key" $edge_fill {{
    default 0;
    "~^(?:MISS|EXPIRED|REVALIDATED)\\|(?:200|304)\\|." 1;
}}
# The client's Cache-Control: without s-maxage, which is this edge's (a cache behind it
# would keep the answer that long without ever being purged).
map $upstream_http_cache_control $edge_client_cache_control {{
    "~^(?<cc_head>.*?),\\s*s-maxage=\\d+(?<cc_tail>.*)$" "$cc_head$cc_tail";
    default $upstream_http_cache_control;
}}

log_format edge_fill escape=json '{{"key":"{CACHE_KEY}","keys":"$upstream_http_surrogate_key",'
    '"msec":$msec,"request_time":$request_time,"cache":"$upstream_cache_status"}}';
log_format edge_view '$msec $uri';
"""


def proxy_conf(settings: Settings, layout: Layout) -> str:
    log_dir, conf_dir = layout.logs, layout.conf
    passes = _passes_surrogates(settings)
    hide = "" if passes else "proxy_hide_header Surrogate-Key;\n"
    cache_control = (
        ""
        if passes
        else (
            "# s-maxage is this edge's own (map $edge_client_cache_control).\n"
            "proxy_hide_header Cache-Control;\n"
            "add_header Cache-Control $edge_client_cache_control always;\n"
        )
    )
    return f"""# Rendered by `sichrplace stack up` (stack/edge/conf.py): included by every location
# the edge caches. Proxying as in `location /`, plus the cache.
proxy_pass http://api;
proxy_http_version 1.1;
proxy_set_header Connection "";
proxy_set_header Host $host;
proxy_set_header X-Request-ID $req_id;
proxy_set_header traceparent $traceparent_out;
proxy_set_header X-Real-IP $remote_addr;
proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
proxy_set_header X-Forwarded-Proto $edge_scheme;
# One stored copy in identity; nginx compresses it per client on the way out.
proxy_set_header Accept-Encoding "";
proxy_set_header If-None-Match $edge_if_none_match;
proxy_connect_timeout 1s;
proxy_read_timeout 60s;
proxy_next_upstream error timeout http_502 http_504;
proxy_next_upstream_tries 3;
proxy_next_upstream_timeout 10s;

# The TTL is the API's: s-maxage, else max-age (nginx 1.22 honours both, s-maxage first);
# an answer without Cache-Control (every problem, every error) is never stored.
proxy_cache {ZONE};
proxy_cache_key "{CACHE_KEY}";
proxy_cache_methods GET HEAD;
proxy_cache_bypass $edge_skip_auth $edge_skip_session $edge_skip_client;
proxy_no_cache $edge_skip_auth $edge_skip_session $edge_skip_client;
# An expired entry is revalidated with its ETag (a 304 from the API keeps it).
proxy_cache_revalidate on;
# One request fills a missing entry; the others wait for it (at most 5 s).
proxy_cache_lock on;
proxy_cache_lock_timeout 5s;
# While an entry is refreshed, or the API fails, the expired copy is served.
proxy_cache_use_stale error timeout updating http_500 http_502 http_503 http_504;

# What differs per request never comes from a stored answer.
proxy_hide_header X-Request-ID;
# The API's own cache status (search) is passed on as X-Origin-Cache; X-Cache is the edge's.
proxy_hide_header X-Cache;
{hide}{cache_control}include {conf_dir}/edge-headers.conf;
add_header X-Request-ID $req_id always;
add_header X-Cache $upstream_cache_status always;
add_header X-Origin-Cache $upstream_http_x_cache always;

access_log {log_dir}/nginx-access.log json buffer=64k flush=1s;
# Unbuffered: the purge index must learn a stored answer at once.
access_log {log_dir}/{FILL_LOG} edge_fill if=$edge_fill;
"""


def locations_conf(settings: Settings, layout: Layout) -> str:
    log_dir, conf_dir = layout.logs, layout.conf
    hide = (
        ""
        if _passes_surrogates(settings)
        else "# Surrogate keys are for the edge's index only.\nproxy_hide_header Surrogate-Key;\n"
    )
    head = (
        "# Rendered by `sichrplace stack up` (stack/edge/conf.py): the server's edge part.\n" + hide
    )
    if not settings.edge.cache_enabled:
        return head
    include = f"include {conf_dir}/edge-proxy.conf;"
    exact = "\n".join(f"location = {path} {{\n    {include}\n}}" for path in EXACT_PATHS)
    return f"""{head}
# The public reads the edge keeps (GET and HEAD of anonymous callers; anything else passes).
{exact}

# A listing's detail; its views served from the cache go to the `edge` program's log.
location ~ "{DETAIL_PATTERN}" {{
    {include}
    access_log {log_dir}/{VIEW_LOG} edge_view if=$edge_view buffer=32k flush=1s;
}}

# A listing's images (their URLs; the files are /media/, content-hashed and immutable).
location ~ "{IMAGES_PATTERN}" {{
    {include}
}}
"""


def render(settings: Settings, layout: Layout) -> EdgeConf:
    return EdgeConf(
        cache=cache_conf(settings, layout),
        proxy=proxy_conf(settings, layout),
        locations=locations_conf(settings, layout),
    )


__all__ = ["CACHE_KEY", "DETAIL_PATTERN", "EXACT_PATHS", "LOGS", "EdgeConf", "render"]
