"""Authentication, role checks and caller-aware read routing for every domain's endpoints.

    from sichrplace.accounts.dependencies import CurrentUser, require_role

    @router.get("/things")
    async def things(user: CurrentUser) -> ...                       # any signed-in user

    @router.post("/things")
    async def create(user: Annotated[Principal, Depends(require_role("landlord"))]) -> ...

Missing or invalid bearer token → 401, wrong role → 403; both problem+json with
WWW-Authenticate. The principal comes from the access token; one Redis round trip (the
database on a miss or when Redis is down) checks that its session has not ended (logout,
password change or reset, "log out everywhere", suspension: accounts/sessions.py).
Anonymous requests pay nothing for it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from sichrplace.accounts import security, sessions
from sichrplace.accounts.errors import InvalidAccessToken, missing_bearer_token
from sichrplace.accounts.models import Role
from sichrplace.accounts.security import AUTH, AuthRuntime, Principal
from sichrplace.kit.errors import Forbidden
from sichrplace.kit.i18n import N_
from sichrplace.platform.db.routing import routed_replica
from sichrplace.platform.db.sessions import ReplicaSession
from sichrplace.platform.http.dependencies import parts_of
from sichrplace.platform.http.language import set_caller_language
from sichrplace.platform.observability.logging import identify

__all__ = [
    "AdminUser",
    "AuthDep",
    "CurrentUser",
    "LandlordUser",
    "OptionalUser",
    "Principal",
    "RoutedReplicaDB",
    "SignedUser",
    "TenantUser",
    "caller_replica",
    "optional_user",
    "require_role",
]

_bearer = HTTPBearer(auto_error=False, description="Access token from POST /auth/login")


def get_auth(request: Request) -> AuthRuntime:
    """The process's keys and hashers (built at start-up by the composition root)."""
    return parts_of(request).get(AUTH)


async def _auth(request: Request) -> AuthRuntime:
    return parts_of(request).get(AUTH)


AuthDep = Annotated[AuthRuntime, Depends(_auth)]


def _signed_principal(
    auth: AuthRuntime, credentials: HTTPAuthorizationCredentials | None
) -> Principal:
    if credentials is None or not credentials.credentials:
        raise missing_bearer_token()
    try:
        claims = auth.access_tokens.decode(credentials.credentials)
    except security.InvalidAccessToken as exc:
        raise InvalidAccessToken(str(exc)) from exc
    identify(claims.user_id)
    return Principal(claims.user_id, claims.email, claims.role, claims.session_id)


Bearer = Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]


async def _live(request: Request, principal: Principal) -> bool:
    """Is the token's session live? Also records the caller's language on the request (read
    in the same round trip), the language of any problem answered to it."""
    parts = parts_of(request)
    auth = parts.get(AUTH)
    check = await sessions.check_session(
        parts.redis, parts.db, auth.settings, principal.id, principal.session_id
    )
    if check.live and check.language is not None:
        set_caller_language(request, check.language)
    return check.live


async def current_user(request: Request, credentials: Bearer) -> Principal:
    principal = _signed_principal(get_auth(request), credentials)
    if not await _live(request, principal):
        raise InvalidAccessToken("session ended")
    return principal


async def signed_user(request: Request, credentials: Bearer) -> Principal:
    """The token's caller, whether or not the session has ended (for an idempotent logout)."""
    return _signed_principal(get_auth(request), credentials)


CurrentUser = Annotated[Principal, Depends(current_user)]
SignedUser = Annotated[Principal, Depends(signed_user)]


def require_role(*roles: Role | str) -> Callable[[Principal], Awaitable[Principal]]:
    """A dependency that lets only callers with one of `roles` through (403 otherwise)."""
    allowed = frozenset(Role(r) for r in roles)
    if not allowed:
        raise ValueError("require_role needs at least one role")

    async def check_role(user: CurrentUser) -> Principal:
        if user.role not in allowed:
            raise Forbidden(
                N_("This action requires the role {roles}.", roles=" | ".join(sorted(allowed))),
                headers={"WWW-Authenticate": 'Bearer error="insufficient_scope"'},
            )
        return user

    return check_role


TenantUser = Annotated[Principal, Depends(require_role(Role.TENANT))]
LandlordUser = Annotated[Principal, Depends(require_role(Role.LANDLORD))]
AdminUser = Annotated[Principal, Depends(require_role(Role.ADMIN))]


async def optional_user(request: Request) -> Principal | None:
    """The caller on a public endpoint: None when anonymous, or when the token is invalid,
    expired or its session ended (a stale token must not break a public page; it just reads
    as anonymous).

    Reads the header itself instead of through sub-dependencies: public reads are the hottest
    requests and each dependency FastAPI resolves costs CPU."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    try:
        claims = get_auth(request).access_tokens.decode(token.strip())
    except security.InvalidAccessToken:
        return None
    identify(claims.user_id)
    principal = Principal(claims.user_id, claims.email, claims.role, claims.session_id)
    return principal if await _live(request, principal) else None


OptionalUser = Annotated[Principal | None, Depends(optional_user)]


async def caller_replica(request: Request, caller: Principal | None) -> ReplicaSession:
    """Lag-tolerant reads for `caller`: the replica, or the primary inside the caller's
    read-your-writes window (platform/db/routing.py)."""
    parts = parts_of(request)
    return await routed_replica(parts.db, parts.redis, caller.id if caller else None)


async def _routed_replica(request: Request, user: OptionalUser) -> ReplicaSession:
    return await caller_replica(request, user)


RoutedReplicaDB = Annotated[ReplicaSession, Depends(_routed_replica)]
