"""Who is browsing: the browser's session in cookies, and the page's language.

The API's own tokens live in httpOnly, SameSite=Lax cookies (Secure, with `__Host-` names):
the access token (15 minutes) and the refresh token (rotating, ADR 0009). A page whose
access token has expired refreshes it through the API; parallel requests of one browser that
all find it expired must not replay the same refresh token (a replay revokes the whole
session), so the first one refreshes under a short Redis lock and leaves the new pair there
for the others for a few seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
from dataclasses import dataclass, field
from typing import Any

import orjson
import structlog
from redis.exceptions import RedisError
from starlette.requests import Request
from starlette.responses import Response

from sichrplace.accounts import security
from sichrplace.accounts.security import AUTH, Principal
from sichrplace.config import WebSettings
from sichrplace.kit.i18n import LANGUAGES, Language, negotiate
from sichrplace.platform.http.dependencies import parts_of
from sichrplace.web.client import ApiClient, ApiProblem

log = structlog.get_logger(__name__)

REFRESH_SHARED_SECONDS = 20  # how long parallel requests may pick up a fresh pair
REFRESH_LOCK_SECONDS = 5
_REDIS_FAILURES = (RedisError, OSError, TimeoutError)


@dataclass(frozen=True, slots=True)
class CookieNames:
    access: str
    refresh: str
    csrf: str
    language: str

    @classmethod
    def for_settings(cls, settings: WebSettings) -> CookieNames:
        # __Host-: only this exact origin, over a secure channel, for the whole site.
        prefix = "__Host-" if settings.secure_cookies else ""
        return cls(f"{prefix}sp_access", f"{prefix}sp_refresh", f"{prefix}sp_csrf", "sp_lang")


@dataclass(slots=True)
class Viewer:
    """The page's caller: signed in (`principal`, `token`) or not, and its language.
    `cookies` are set on the response (a refreshed pair, a cleared session)."""

    principal: Principal | None
    token: str | None
    language: Language
    cookies: list[tuple[str, str | None, int]] = field(default_factory=list)

    @property
    def signed_in(self) -> bool:
        return self.principal is not None

    @property
    def role(self) -> str | None:
        return self.principal.role.value if self.principal else None


def cookie_names(request: Request) -> CookieNames:
    return CookieNames.for_settings(parts_of(request).settings.web)


def page_language(request: Request) -> Language:
    """The language cookie (the switch, or the account's language at login), else the
    browser's Accept-Language, else German."""
    chosen = request.cookies.get(cookie_names(request).language)
    if chosen in LANGUAGES:
        return "en" if chosen == "en" else "de"
    return negotiate(request.headers.get("accept-language"))


def set_cookie(
    response: Response, request: Request, name: str, value: str | None, max_age: int
) -> None:
    """A session cookie (httpOnly, Lax: the return from a payment page is a top-level GET
    that must still carry it); None deletes it."""
    secure = parts_of(request).settings.web.secure_cookies
    if value is None:
        response.delete_cookie(name, path="/", secure=secure, httponly=True, samesite="lax")
        return
    response.set_cookie(
        name, value, max_age=max_age, path="/", secure=secure, httponly=True, samesite="lax"
    )


def apply_cookies(response: Response, request: Request, viewer: Viewer) -> None:
    for name, value, max_age in viewer.cookies:
        set_cookie(response, request, name, value, max_age)


def store_tokens(viewer: Viewer, names: CookieNames, pair: dict[str, Any]) -> None:
    viewer.token = str(pair["access_token"])
    viewer.cookies.append((names.access, viewer.token, int(pair["expires_in"])))
    viewer.cookies.append(
        (names.refresh, str(pair["refresh_token"]), int(pair["refresh_expires_in"]))
    )


def forget_session(viewer: Viewer, names: CookieNames) -> None:
    viewer.principal, viewer.token = None, None
    viewer.cookies += [(names.access, None, 0), (names.refresh, None, 0)]


def _principal(request: Request, token: str | None) -> Principal | None:
    if not token:
        return None
    auth = parts_of(request).get(AUTH)
    try:
        claims = auth.access_tokens.decode(token)
    except security.InvalidAccessToken:
        return None
    return Principal(claims.user_id, claims.email, claims.role, claims.session_id)


async def viewer_of(request: Request) -> Viewer:
    """The caller of this page, its access token refreshed when it has expired."""
    names = cookie_names(request)
    token = request.cookies.get(names.access)
    viewer = Viewer(_principal(request, token), token, page_language(request))
    if viewer.principal is not None:
        return viewer
    refresh_token = request.cookies.get(names.refresh)
    if not refresh_token:
        if token:
            forget_session(viewer, names)
        return viewer
    pair = await _refreshed(request, viewer, refresh_token)
    if pair is None:
        forget_session(viewer, names)
        return viewer
    store_tokens(viewer, names, pair)
    viewer.principal = _principal(request, viewer.token)
    return viewer


async def _refreshed(request: Request, viewer: Viewer, refresh_token: str) -> dict[str, Any] | None:
    """The new token pair for `refresh_token`, made once however many requests ask."""
    redis = parts_of(request).redis
    digest = hashlib.sha256(refresh_token.encode()).hexdigest()
    shared, lock = f"web:refreshed:{digest}", f"web:refreshing:{digest}"
    try:
        for _ in range(REFRESH_LOCK_SECONDS * 10):
            cached = await redis.get(shared)
            if cached is not None:
                return dict(orjson.loads(cached))
            if await redis.set(lock, b"1", nx=True, ex=REFRESH_LOCK_SECONDS):
                break
            await asyncio.sleep(0.1)
    except _REDIS_FAILURES:
        log.warning("web_refresh_unshared")  # refresh alone: a parallel one may end the session
    client = ApiClient(request, token=None, language=viewer.language)
    try:
        pair = await client.post("/auth/refresh", {"refresh_token": refresh_token})
    except ApiProblem as problem:
        log.info("web_refresh_refused", status=problem.status)
        return None
    with contextlib.suppress(*_REDIS_FAILURES):
        await redis.set(shared, orjson.dumps(pair), ex=REFRESH_SHARED_SECONDS)
    return dict(pair)


async def stream_user(request: Request) -> Principal:
    """The caller of the browser's event stream (/events): the session cookie's access token,
    checked as the API checks a bearer token (signature, expiry, live session; 401 else)."""
    from fastapi.security import HTTPAuthorizationCredentials

    from sichrplace.accounts.dependencies import current_user

    token = request.cookies.get(cookie_names(request).access) or ""
    credentials = (
        HTTPAuthorizationCredentials(scheme="Bearer", credentials=token) if token else None
    )
    return await current_user(request, credentials)
