"""POST /auth/login, GET /me, rehash-on-login and login throttling (per account and per IP)."""

from __future__ import annotations

import asyncio
import statistics
import time
import uuid

import httpx
from argon2 import PasswordHasher
from sqlalchemy import select, update

from sichrplace.accounts.models import User
from sichrplace.config import Settings
from sichrplace.platform.db.engines import Database
from tests.accounts.conftest import (
    API,
    Account,
    MakeClient,
    bearer,
    login,
    random_ip,
    register,
    running_app,
)


async def attempt(client: httpx.AsyncClient, email: str, password: str) -> httpx.Response:
    return await client.post(f"{API}/auth/login", json={"email": email, "password": password})


async def test_login_returns_bearer_pair_and_me_returns_profile(
    ip_client: httpx.AsyncClient, tenant: Account, settings: Settings
) -> None:
    tokens = await login(ip_client, tenant)
    assert tokens["token_type"] == "bearer"
    assert tokens["expires_in"] == settings.auth.access_token_ttl_seconds
    assert tokens["access_token"]
    assert tokens["refresh_token"]
    me = await ip_client.get(f"{API}/me", headers=bearer(tokens["access_token"]))
    assert me.status_code == 200, me.text
    assert me.json()["id"] == tenant.id
    assert me.json()["email"] == tenant.email
    assert me.json()["role"] == "tenant"
    assert me.json()["email_verified"] is False


async def test_login_email_is_case_insensitive(ip_client: httpx.AsyncClient) -> None:
    account = await register(ip_client, email=f"Case-{uuid.uuid4().hex[:8]}@Example.com")
    r = await attempt(ip_client, account.email.upper(), account.password)
    assert r.status_code == 200, r.text


async def test_wrong_password_and_unknown_email_get_the_same_401(
    ip_client: httpx.AsyncClient, tenant: Account
) -> None:
    wrong = await attempt(ip_client, tenant.email, tenant.password + "x")
    unknown = await attempt(ip_client, f"nobody-{uuid.uuid4().hex}@example.com", tenant.password)
    for r in (wrong, unknown):
        assert r.status_code == 401
        assert r.headers["content-type"].startswith("application/problem+json")
        assert r.headers["www-authenticate"].startswith("Bearer")
    assert wrong.json() == unknown.json()


async def test_unknown_email_costs_a_password_check(
    ip_client: httpx.AsyncClient, tenant: Account
) -> None:
    """Without the dummy hash an unknown email would answer ~50x faster than a wrong password."""

    async def timed(email: str) -> float:
        start = time.perf_counter()
        r = await attempt(ip_client, email, "wrong-password-123")
        assert r.status_code == 401
        return time.perf_counter() - start

    known, unknown = [], []
    for _ in range(3):
        known.append(await timed(tenant.email))
        unknown.append(await timed(f"ghost-{uuid.uuid4().hex}@example.com"))
    assert statistics.median(unknown) > 0.5 * statistics.median(known), (known, unknown)


async def test_login_rehashes_a_password_hashed_with_old_parameters(
    ip_client: httpx.AsyncClient, tenant: Account, db: Database, settings: Settings
) -> None:
    old = PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1).hash(tenant.password)
    async with db.sessionmaker() as s:
        await s.execute(
            update(User).where(User.id == uuid.UUID(tenant.id)).values(password_hash=old)
        )
        await s.commit()
    await login(ip_client, tenant)
    async with db.sessionmaker() as s:
        stored = (
            await s.scalars(select(User.password_hash).where(User.email == tenant.email))
        ).one()
    a = settings.auth
    assert stored != old
    assert stored.startswith(
        f"$argon2id$v=19$m={a.argon2_memory_kib},t={a.argon2_time_cost},p={a.argon2_parallelism}$"
    )
    await login(ip_client, tenant)  # the new hash verifies


async def test_failures_from_many_addresses_lock_untrusted_clients_with_429(
    make_client: MakeClient, tenant: Account, settings: Settings
) -> None:
    """The account-wide lockout: failures from many addresses, then any client without a
    device token of the account is refused (429, problem+json, Retry-After)."""
    limit = settings.auth.login_max_untrusted_failures_per_account
    for _ in range(limit):
        async with make_client(random_ip()) as c:
            assert (await attempt(c, tenant.email, "not-the-password")).status_code == 401
    async with make_client(random_ip()) as other:
        locked = await attempt(other, tenant.email, tenant.password)
    assert locked.status_code == 429, locked.text
    assert locked.headers["content-type"].startswith("application/problem+json")
    retry_after = int(locked.headers["retry-after"])
    assert 0 < retry_after <= settings.auth.login_failure_window_seconds


async def _blocked_for(client: httpx.AsyncClient, email: str, password: str) -> int:
    r = await attempt(client, email, password)
    assert r.status_code == 429, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    return int(r.headers["retry-after"])


async def test_failures_from_one_address_get_growing_delays_for_any_account(
    make_client: MakeClient, ip_client: httpx.AsyncClient, settings: Settings
) -> None:
    victim = await register(ip_client)
    free = settings.auth.login_free_failures_per_ip
    base = settings.auth.login_delay_base_seconds
    ip = random_ip()
    async with make_client(ip) as c:
        results = await asyncio.gather(
            *(
                attempt(c, f"spray-{i}-{uuid.uuid4().hex}@example.com", "x" * 12)
                for i in range(free)
            )
        )
        assert [r.status_code for r in results] == [401] * free
        waits = []
        for _ in range(3):  # each failure past the free ones doubles the wait
            spray = f"spray-{uuid.uuid4().hex}@example.com"
            assert (await attempt(c, spray, "x" * 12)).status_code == 401
            waits.append(await _blocked_for(c, victim.email, victim.password))
            await asyncio.sleep(waits[-1] + 0.05)
        assert waits == [round(base), round(2 * base), round(4 * base)]
    # The account itself is not locked: from another address it logs in.
    async with make_client(random_ip()) as other:
        assert (await attempt(other, victim.email, victim.password)).status_code == 200


async def test_failures_for_one_account_from_one_address_get_growing_delays(
    make_client: MakeClient, tenant: Account, settings: Settings
) -> None:
    free = settings.auth.login_free_failures_per_account_ip
    base = settings.auth.login_delay_base_seconds
    async with make_client(random_ip()) as c:
        for _ in range(free):
            assert (await attempt(c, tenant.email, "not-the-password")).status_code == 401
        waits = []
        for _ in range(2):
            assert (await attempt(c, tenant.email, "not-the-password")).status_code == 401
            waits.append(await _blocked_for(c, tenant.email, tenant.password))
            await asyncio.sleep(waits[-1] + 0.05)
        assert waits == [round(base), round(2 * base)]
        # This pair only: the same address may try another account, ...
        assert (await attempt(c, f"x-{uuid.uuid4().hex}@example.com", "y" * 12)).status_code == 401
    # ... and another address this account.
    async with make_client(random_ip()) as other:
        assert (await attempt(other, tenant.email, tenant.password)).status_code == 200


async def test_success_resets_the_account_failure_count(
    ip_client: httpx.AsyncClient, tenant: Account, settings: Settings
) -> None:
    free = settings.auth.login_free_failures_per_account_ip
    for _ in range(2):
        for _ in range(free):
            assert (await attempt(ip_client, tenant.email, "nope-nope-nope")).status_code == 401
        await login(ip_client, tenant)


async def test_login_fails_open_when_redis_is_down(ip_client: httpx.AsyncClient) -> None:
    account = await register(ip_client)
    settings = Settings()
    settings.redis.url = "redis://127.0.0.1:9/0"  # nothing listens on the discard port
    async with running_app(settings) as c:
        for _ in range(settings.auth.login_max_untrusted_failures_per_account + 2):
            assert (await attempt(c, account.email, "not-the-password")).status_code == 401
        assert (await attempt(c, account.email, account.password)).status_code == 200
