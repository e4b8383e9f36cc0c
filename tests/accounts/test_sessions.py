"""Sessions that end: after logout, password reset or change, "log out everywhere" and a
suspension the old access token gets 401 within 2 s, in this process and on every API
instance of the stack; Redis backs the check, the database decides."""

from __future__ import annotations

import asyncio
import os
import sys
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import jwt
import pytest
import redis.asyncio as aioredis
from sqlalchemy import update

from sichrplace.accounts import sessions
from sichrplace.accounts.models import User
from sichrplace.config import Settings
from sichrplace.platform.db.engines import Database
from tests.accounts.conftest import (
    API,
    Account,
    bearer,
    login,
    register,
    running_app,
    strong_password,
)
from tests.accounts.test_email_flows import RESET_SUBJECT, confirm, link_token, request_reset
from tests.helpers.mailbox import wait_for_mail

Targets = dict[str, httpx.AsyncClient]


@pytest.fixture
async def everywhere(ip_client: httpx.AsyncClient, settings: Settings) -> AsyncIterator[Targets]:
    """This process's app and each API instance of the stack, addressed directly."""
    base = settings.stack.api_base_port
    instances = {
        f"api-{i + 1}": httpx.AsyncClient(base_url=f"http://127.0.0.1:{base + i}")
        for i in range(settings.stack.api_instances)
    }
    yield {"in-process": ip_client, **instances}
    for c in instances.values():
        await c.aclose()


async def me_status(targets: Targets, access: str) -> dict[str, int]:
    results = await asyncio.gather(
        *(c.get(f"{API}/me", headers=bearer(access)) for c in targets.values())
    )
    return {name: r.status_code for name, r in zip(targets, results, strict=True)}


async def assert_works(targets: Targets, access: str) -> None:
    """200 everywhere (which also leaves "live" cached in Redis for the check to overturn)."""
    assert set((await me_status(targets, access)).values()) == {200}


async def assert_ended(targets: Targets, access: str, within: float = 2.0) -> None:
    """401 everywhere within `within` seconds."""
    deadline = time.monotonic() + within
    while True:
        statuses = await me_status(targets, access)
        if set(statuses.values()) == {401}:
            return
        assert time.monotonic() < deadline, statuses
        await asyncio.sleep(0.05)


async def test_logout_ends_the_access_token_everywhere(
    ip_client: httpx.AsyncClient, tenant: Account, everywhere: Targets
) -> None:
    ended, other = await login(ip_client, tenant), await login(ip_client, tenant)
    await assert_works(everywhere, ended["access_token"])
    r = await ip_client.post(f"{API}/auth/logout", headers=bearer(ended["access_token"]))
    assert r.status_code == 204
    await assert_ended(everywhere, ended["access_token"])
    r = await ip_client.get(f"{API}/me", headers=bearer(ended["access_token"]))
    assert r.headers["content-type"].startswith("application/problem+json")
    assert "Sitzung beendet" in r.json()["detail"]  # anonymous now: German by default
    assert 'error="invalid_token"' in r.headers["www-authenticate"]
    await assert_works(everywhere, other["access_token"])  # another login goes on
    again = await ip_client.post(f"{API}/auth/logout", headers=bearer(ended["access_token"]))
    assert again.status_code == 204  # idempotent


async def test_a_password_reset_ends_every_session_everywhere(
    ip_client: httpx.AsyncClient, everywhere: Targets
) -> None:
    account = await register(ip_client)
    first, second = await login(ip_client, account), await login(ip_client, account)
    for tokens in (first, second):
        await assert_works(everywhere, tokens["access_token"])
    assert (await request_reset(ip_client, account.email)).status_code == 202
    token = link_token(
        await wait_for_mail(account.email, subject_contains=RESET_SUBJECT), "reset-password"
    )
    assert (await confirm(ip_client, token, strong_password())).status_code == 204
    for tokens in (first, second):
        await assert_ended(everywhere, tokens["access_token"])


async def test_a_password_change_ends_the_other_sessions(
    ip_client: httpx.AsyncClient, everywhere: Targets
) -> None:
    account = await register(ip_client)
    mine, other = await login(ip_client, account), await login(ip_client, account)
    await assert_works(everywhere, other["access_token"])
    new_password = strong_password()
    url, headers = f"{API}/me/password", bearer(mine["access_token"])

    wrong = await ip_client.post(
        url,
        json={"current_password": "not-it-at-all", "new_password": new_password},
        headers=headers,
    )
    assert wrong.status_code == 422
    assert [e["field"] for e in wrong.json()["errors"]] == ["current_password"]
    weak = await ip_client.post(
        url, json={"current_password": account.password, "new_password": "short"}, headers=headers
    )
    assert weak.status_code == 422
    assert [e["field"] for e in weak.json()["errors"]] == ["password"]
    await assert_works(everywhere, other["access_token"])  # nothing changed yet

    r = await ip_client.post(
        url,
        json={"current_password": account.password, "new_password": new_password},
        headers=headers,
    )
    assert r.status_code == 204, r.text
    await assert_ended(everywhere, other["access_token"])
    await assert_works(everywhere, mine["access_token"])  # the caller's session goes on
    refused = await ip_client.post(
        f"{API}/auth/refresh", json={"refresh_token": other["refresh_token"]}
    )
    assert refused.status_code == 401
    await login(ip_client, Account(account.id, account.email, new_password, account.role))
    unauthenticated = await ip_client.post(
        url, json={"current_password": new_password, "new_password": strong_password()}
    )
    assert unauthenticated.status_code == 401


async def test_logout_all_ends_every_session_of_the_caller_only(
    ip_client: httpx.AsyncClient, tenant: Account, everywhere: Targets
) -> None:
    first, second = await login(ip_client, tenant), await login(ip_client, tenant)
    someone_else = await login(ip_client, await register(ip_client))
    for tokens in (first, second):
        await assert_works(everywhere, tokens["access_token"])
    r = await ip_client.post(f"{API}/auth/logout-all", headers=bearer(first["access_token"]))
    assert r.status_code == 204
    for tokens in (first, second):
        await assert_ended(everywhere, tokens["access_token"])
        refresh = {"refresh_token": tokens["refresh_token"]}
        assert (await ip_client.post(f"{API}/auth/refresh", json=refresh)).status_code == 401
    await assert_works(everywhere, someone_else["access_token"])
    await login(ip_client, tenant)  # a new login works


async def make_admin(client: httpx.AsyncClient, db: Database) -> dict[str, str]:
    admin = await register(client)
    async with db.sessionmaker() as s:
        await s.execute(update(User).where(User.id == uuid.UUID(admin.id)).values(role="admin"))
        await s.commit()
    return bearer((await login(client, admin))["access_token"])


async def test_an_administrators_suspension_ends_every_session_and_blocks_login(
    ip_client: httpx.AsyncClient, everywhere: Targets, db: Database
) -> None:
    admin = await make_admin(ip_client, db)
    user = await register(ip_client)
    tokens = await login(ip_client, user)
    await assert_works(everywhere, tokens["access_token"])

    as_user = await ip_client.post(
        f"{API}/admin/users/{user.id}/suspend", headers=bearer(tokens["access_token"])
    )
    assert as_user.status_code == 403  # admins only
    missing = await ip_client.post(f"{API}/admin/users/{uuid.uuid4()}/suspend", headers=admin)
    assert missing.status_code == 404

    r = await ip_client.post(f"{API}/admin/users/{user.id}/suspend", headers=admin)
    assert r.status_code == 200, r.text
    assert r.json()["suspended"] is True
    await assert_ended(everywhere, tokens["access_token"])
    body = {"email": user.email, "password": user.password}
    refused = await ip_client.post(f"{API}/auth/login", json=body)
    assert refused.status_code == 403
    assert refused.json()["type"].endswith("/account-suspended")
    wrong = await ip_client.post(f"{API}/auth/login", json={**body, "password": "not-it-at-all"})
    assert wrong.status_code == 401  # the suspension is told only to the password's holder
    refresh = {"refresh_token": tokens["refresh_token"]}
    assert (await ip_client.post(f"{API}/auth/refresh", json=refresh)).status_code == 401

    r = await ip_client.post(f"{API}/admin/users/{user.id}/unsuspend", headers=admin)
    assert r.status_code == 200
    assert r.json()["suspended"] is False
    fresh = await login(ip_client, user)
    await assert_works(everywhere, fresh["access_token"])
    await assert_ended(everywhere, tokens["access_token"])  # ended sessions stay ended


async def test_a_suspended_users_refresh_is_403(
    ip_client: httpx.AsyncClient, tenant: Account, db: Database
) -> None:
    """A session made while the suspension was being written (its login had read the user
    first) is still refused: the refresh reads the user, the access check the user's state."""
    tokens = await login(ip_client, tenant)
    async with db.sessionmaker() as s:  # suspended without ending the sessions
        await s.execute(
            update(User).where(User.id == uuid.UUID(tenant.id)).values(suspended_at=User.created_at)
        )
        await s.commit()
    refresh = {"refresh_token": tokens["refresh_token"]}
    r = await ip_client.post(f"{API}/auth/refresh", json=refresh)
    assert r.status_code == 403
    assert r.json()["type"].endswith("/account-suspended")


async def cli(*args: str) -> tuple[int, str]:
    command = Path(sys.executable).with_name("sichrplace")
    proc = await asyncio.create_subprocess_exec(
        str(command),
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        env=os.environ.copy(),
    )
    out, _ = await proc.communicate()
    return proc.returncode or 0, out.decode()


async def test_the_cli_suspends_and_unsuspends(
    ip_client: httpx.AsyncClient, tenant: Account, everywhere: Targets
) -> None:
    tokens = await login(ip_client, tenant)
    await assert_works(everywhere, tokens["access_token"])
    code, out = await cli("accounts", "suspend", tenant.email)
    assert code == 0, out
    assert "is now suspended" in out
    await assert_ended(everywhere, tokens["access_token"])
    body = {"email": tenant.email, "password": tenant.password}
    assert (await ip_client.post(f"{API}/auth/login", json=body)).status_code == 403
    code, out = await cli("accounts", "unsuspend", tenant.email)
    assert code == 0, out
    await login(ip_client, tenant)
    code, out = await cli("accounts", "suspend", f"nobody-{uuid.uuid4().hex}@example.com")
    assert code == 1


async def test_a_flushed_redis_is_refilled_from_the_database(
    ip_client: httpx.AsyncClient, tenant: Account, redis: aioredis.Redis
) -> None:
    ended, live = await login(ip_client, tenant), await login(ip_client, tenant)
    await ip_client.post(f"{API}/auth/logout", headers=bearer(ended["access_token"]))
    for tokens in (ended, live):
        await ip_client.get(f"{API}/me", headers=bearer(tokens["access_token"]))
        sid = uuid.UUID(_claims(tokens["access_token"])["sid"])
        await redis.delete(sessions.session_key(sid), sessions.user_key(uuid.UUID(tenant.id)))
    r = await ip_client.get(f"{API}/me", headers=bearer(ended["access_token"]))
    assert r.status_code == 401  # still revoked: the database said so ...
    sid = uuid.UUID(_claims(ended["access_token"])["sid"])
    assert await redis.get(sessions.session_key(sid)) == sessions.REVOKED  # ... and Redis again
    r = await ip_client.get(f"{API}/me", headers=bearer(live["access_token"]))
    assert r.status_code == 200
    sid = uuid.UUID(_claims(live["access_token"])["sid"])
    assert await redis.get(sessions.session_key(sid)) == sessions.LIVE


async def test_without_redis_the_database_answers_and_nothing_fails_open(
    ip_client: httpx.AsyncClient, tenant: Account
) -> None:
    ended, live = await login(ip_client, tenant), await login(ip_client, tenant)
    await ip_client.post(f"{API}/auth/logout", headers=bearer(ended["access_token"]))
    settings = Settings()
    settings.redis.url = "redis://127.0.0.1:9/0"  # nothing listens on the discard port
    async with running_app(settings) as no_redis:
        r = await no_redis.get(f"{API}/me", headers=bearer(ended["access_token"]))
        assert r.status_code == 401
        r = await no_redis.get(f"{API}/me", headers=bearer(live["access_token"]))
        assert r.status_code == 200
        # A logout through it is written to the database (what its checks read).
        await no_redis.post(f"{API}/auth/logout", headers=bearer(live["access_token"]))
        r = await no_redis.get(f"{API}/me", headers=bearer(live["access_token"]))
        assert r.status_code == 401


def _claims(token: str) -> dict[str, str]:
    claims: dict[str, str] = jwt.decode(token, options={"verify_signature": False})
    return claims


async def test_wrong_current_passwords_get_growing_delays(
    ip_client: httpx.AsyncClient, tenant: Account, settings: Settings
) -> None:
    """A stolen access token is no way around the login throttle's per-address delays."""
    headers = bearer((await login(ip_client, tenant))["access_token"])
    body = {"current_password": "not-it-at-all", "new_password": strong_password()}
    for _ in range(settings.auth.login_free_failures_per_account_ip + 1):
        r = await ip_client.post(f"{API}/me/password", json=body, headers=headers)
        assert r.status_code == 422
    right = {**body, "current_password": tenant.password}
    r = await ip_client.post(f"{API}/me/password", json=right, headers=headers)
    assert r.status_code == 429
    assert r.headers["content-type"].startswith("application/problem+json")
    assert int(r.headers["retry-after"]) >= 1
