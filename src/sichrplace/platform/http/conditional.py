"""Conditional GETs and HTTP caching of read responses: a strong `ETag` made from the body
that is sent, 304 Not Modified on a matching `If-None-Match` (RFC 9110 §13.1.2: weak
comparison, `*`, lists), and the `Cache-Control` / `Vary` that go with who may reuse it.

Who may reuse a response (RFC 9111):
- anonymous requests: `public, max-age=N` (short: listings change; our own cache already
  absorbs the load, this saves clients and shared caches a round trip);
- requests with credentials: `private, no-cache` (the caller's browser may keep it but
  asks again each time, cheaply with the ETag: read-your-writes survives);
- a body only its caller may see (e.g. an owner's full listing): `private, no-store`.
Every response whose caching depends on the credentials says `Vary: Authorization`.

Shared caches (the edge, a CDN) may keep a public answer longer than browsers (`s-maxage`)
when it is purged by its `Surrogate-Key` as soon as its listing changes (platform/edge).
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Mapping

from starlette.requests import Request
from starlette.responses import Response

PRIVATE_NO_CACHE = "private, no-cache"
PRIVATE_NO_STORE = "private, no-store"
VARY_AUTHORIZATION = "Authorization"


@functools.lru_cache(maxsize=16)
def public(max_age: int, shared_max_age: int | None = None) -> str:
    """`public, max-age=N`, with `s-maxage=S` for shared caches when it differs."""
    if shared_max_age is None or shared_max_age == max_age:
        return f"public, max-age={max_age}"
    return f"public, max-age={max_age}, s-maxage={shared_max_age}"


def etag_of(body: bytes) -> str:
    """A strong validator of exactly these bytes (SHA-1 as a fingerprint, not for security:
    the fastest of hashlib's here, a few microseconds for a detail)."""
    return f'"{hashlib.sha1(body, usedforsecurity=False).hexdigest()[:32]}"'


def _opaque(tag: str) -> str:
    """The opaque part of an entity tag, for the weak comparison: `W/"x"` and `"x"` match."""
    tag = tag.strip()
    return tag[2:] if tag.startswith("W/") else tag


def none_match(if_none_match: str | None, etag: str) -> bool:
    """Whether `If-None-Match` matches the current `etag` (then a GET answers 304): `*`, or
    any of its comma-separated tags by weak comparison (RFC 9110 §13.1.2)."""
    if not if_none_match:
        return False
    if if_none_match.strip() == "*":
        return True
    current = _opaque(etag)
    return any(_opaque(tag) == current for tag in if_none_match.split(","))


def cache_control_for(
    request: Request,
    max_age: int,
    *,
    private_body: bool = False,
    shared_max_age: int | None = None,
) -> str:
    if private_body:
        return PRIVATE_NO_STORE
    if "authorization" in request.headers:
        return PRIVATE_NO_CACHE
    return public(max_age, shared_max_age)


def is_public(cache_control: str) -> bool:
    return cache_control.startswith("public")


def json_response(
    request: Request,
    body: bytes,
    *,
    cache_control: str,
    etag: bool = True,
    vary: str | None = VARY_AUTHORIZATION,
    headers: Mapping[str, str] | None = None,
) -> Response:
    """`body` (JSON text) with the caching headers; 304 without a body when the request's
    `If-None-Match` matches its ETag (with the headers a 200 would carry, RFC 9110 §15.4.5)."""
    out = {"Cache-Control": cache_control}
    if vary is not None:
        out["Vary"] = vary
    if headers:
        out.update(headers)
    if etag:
        tag = etag_of(body)
        out["ETag"] = tag
        if none_match(request.headers.get("if-none-match"), tag):
            return Response(status_code=304, headers=out)
    return Response(body, media_type="application/json", headers=out)
