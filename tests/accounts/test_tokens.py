"""Refresh rotation and reuse detection, logout, and access-token verification (kid, expiry)."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta

import httpx
import jwt
from fastapi import FastAPI
from sqlalchemy import select, update

from sichrplace.accounts.models import RefreshToken, RefreshTokenFamily
from sichrplace.accounts.security import AUTH, AuthRuntime, token_digest
from sichrplace.app import parts_of_app
from sichrplace.config import Settings
from sichrplace.kit.clock import utcnow
from sichrplace.platform.db.engines import Database
from tests.accounts.conftest import API, Account, bearer, login


async def refresh(client: httpx.AsyncClient, token: str) -> httpx.Response:
    return await client.post(f"{API}/auth/refresh", json={"refresh_token": token})


async def test_refresh_rotates_and_the_old_token_dies(
    ip_client: httpx.AsyncClient, tenant: Account
) -> None:
    first = await login(ip_client, tenant)
    r = await refresh(ip_client, first["refresh_token"])
    assert r.status_code == 200, r.text
    second = r.json()
    assert second["token_type"] == "bearer"
    assert second["refresh_token"] != first["refresh_token"]
    assert second["access_token"] != first["access_token"]
    me = await ip_client.get(f"{API}/me", headers=bearer(second["access_token"]))
    assert me.status_code == 200
    # A chain of rotations works while each token is used once.
    third = await refresh(ip_client, second["refresh_token"])
    assert third.status_code == 200


async def test_replaying_a_used_refresh_token_revokes_the_whole_family(
    ip_client: httpx.AsyncClient, tenant: Account
) -> None:
    first = await login(ip_client, tenant)
    other_session = await login(ip_client, tenant)
    second = (await refresh(ip_client, first["refresh_token"])).json()
    third = (await refresh(ip_client, second["refresh_token"])).json()

    replay = await refresh(ip_client, first["refresh_token"])
    assert replay.status_code == 401
    assert replay.headers["content-type"].startswith("application/problem+json")
    # Even the newest token of that family is dead now (the revocation was committed) ...
    newest = await refresh(ip_client, third["refresh_token"])
    assert newest.status_code == 401
    # ... while another login of the same user is untouched.
    assert (await refresh(ip_client, other_session["refresh_token"])).status_code == 200


async def test_concurrent_refreshes_with_one_token_cannot_both_succeed(
    ip_client: httpx.AsyncClient, tenant: Account
) -> None:
    pair = await login(ip_client, tenant)
    results = await asyncio.gather(*(refresh(ip_client, pair["refresh_token"]) for _ in range(4)))
    codes = sorted(r.status_code for r in results)
    assert codes == [200, 401, 401, 401], [r.text for r in results]
    # The losers presented a used token: the family is revoked, the winner's token included.
    winner = next(r for r in results if r.status_code == 200).json()
    assert (await refresh(ip_client, winner["refresh_token"])).status_code == 401


async def test_unknown_refresh_token_is_401(ip_client: httpx.AsyncClient) -> None:
    r = await refresh(ip_client, "not-a-token")
    assert r.status_code == 401
    assert r.json()["type"].endswith("/invalid-refresh-token")


async def _age(db: Database, refresh_token: str, *, token: timedelta, session: timedelta) -> None:
    """Move a refresh token's expiry and its family's (login session's) start into the past."""
    digest = token_digest(refresh_token)
    async with db.sessionmaker() as s:
        family_id = (
            await s.execute(select(RefreshToken.family_id).where(RefreshToken.token_hash == digest))
        ).scalar_one()
        await s.execute(
            update(RefreshToken)
            .where(RefreshToken.token_hash == digest)
            .values(expires_at=RefreshToken.expires_at - token)
        )
        await s.execute(
            update(RefreshTokenFamily)
            .where(RefreshTokenFamily.id == family_id)
            .values(created_at=RefreshTokenFamily.created_at - session)
        )
        await s.commit()


async def test_an_expired_refresh_token_or_an_old_session_is_401(
    ip_client: httpx.AsyncClient, tenant: Account, db: Database, settings: Settings
) -> None:
    ttl = timedelta(seconds=settings.auth.refresh_token_ttl_seconds)
    max_age = timedelta(seconds=settings.auth.session_max_age_seconds)
    expired = await login(ip_client, tenant)
    await _age(db, expired["refresh_token"], token=ttl, session=ttl)
    old = await login(ip_client, tenant)
    await _age(db, old["refresh_token"], token=timedelta(0), session=max_age)
    for pair in (expired, old):
        r = await refresh(ip_client, pair["refresh_token"])
        assert r.status_code == 401
        assert r.json()["type"].endswith("/invalid-refresh-token")
    # Neither was a replay: a still valid session of the same user keeps working.
    assert (await refresh(ip_client, (await login(ip_client, tenant))["refresh_token"])).is_success


async def test_logout_revokes_the_callers_session_only(
    ip_client: httpx.AsyncClient, tenant: Account
) -> None:
    session_a = await login(ip_client, tenant)
    session_b = await login(ip_client, tenant)
    r = await ip_client.post(f"{API}/auth/logout", headers=bearer(session_a["access_token"]))
    assert r.status_code == 204
    assert r.content == b""
    assert (await refresh(ip_client, session_a["refresh_token"])).status_code == 401
    assert (await refresh(ip_client, session_b["refresh_token"])).status_code == 200
    again = await ip_client.post(f"{API}/auth/logout", headers=bearer(session_a["access_token"]))
    assert again.status_code == 204  # idempotent


async def test_logout_without_token_is_401(ip_client: httpx.AsyncClient) -> None:
    r = await ip_client.post(f"{API}/auth/logout")
    assert r.status_code == 401
    assert r.headers["www-authenticate"].startswith("Bearer")


def _auth(app: FastAPI) -> AuthRuntime:
    auth: AuthRuntime = parts_of_app(app).get(AUTH)
    return auth


async def test_expired_access_token_is_401(
    app: FastAPI, ip_client: httpx.AsyncClient, tenant: Account
) -> None:
    tokens = _auth(app).access_tokens
    stale = tokens.issue(
        user_id=uuid.UUID(tenant.id),
        email=tenant.email,
        role="tenant",
        session_id=uuid.uuid4(),
        now=utcnow() - tokens.ttl - timedelta(seconds=5),
    )
    r = await ip_client.get(f"{API}/me", headers={**bearer(stale), "Accept-Language": "en"})
    assert r.status_code == 401
    assert "expired" in r.json()["detail"]
    assert 'error="invalid_token"' in r.headers["www-authenticate"]


async def test_token_with_unknown_kid_wrong_key_or_audience_is_401(
    app: FastAPI, ip_client: httpx.AsyncClient, tenant: Account
) -> None:
    access = (await login(ip_client, tenant))["access_token"]
    claims = jwt.decode(access, options={"verify_signature": False})
    active_kid = _auth(app).access_tokens.keys.active_kid
    key = _auth(app).access_tokens.keys.signing_key
    forged = {
        "unknown kid": jwt.encode(claims, key, algorithm="HS256", headers={"kid": "no-such-kid"}),
        "no kid": jwt.encode(claims, key, algorithm="HS256"),
        "wrong key": jwt.encode(claims, b"x" * 32, algorithm="HS256", headers={"kid": active_kid}),
        "wrong audience": jwt.encode(
            {**claims, "aud": "someone-else"}, key, algorithm="HS256", headers={"kid": active_kid}
        ),
        "alg none": jwt.encode(claims, None, algorithm="none", headers={"kid": active_kid}),
        "garbage": "not.a.jwt",
    }
    for why, token in forged.items():
        r = await ip_client.get(f"{API}/me", headers=bearer(token))
        assert r.status_code == 401, why
        assert r.headers["content-type"].startswith("application/problem+json"), why
    assert (await ip_client.get(f"{API}/me", headers=bearer(access))).status_code == 200
