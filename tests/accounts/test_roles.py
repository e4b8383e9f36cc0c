"""CurrentUser / require_role through real endpoints: 401 without or with a bad token, 403 for
the wrong role (both problem+json with WWW-Authenticate); admins are promoted by the CLI."""

from __future__ import annotations

import asyncio
import sys
import uuid
from pathlib import Path

import httpx

from tests.accounts.conftest import API, Account, bearer, login, register

PROBLEM = "application/problem+json"


async def promote(email: str, role: str) -> str:
    cli = Path(sys.executable).parent / "sichrplace"
    proc = await asyncio.create_subprocess_exec(
        str(cli),
        "accounts",
        "set-role",
        email,
        role,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await proc.communicate()
    assert proc.returncode == 0, err.decode()
    return out.decode()


async def test_missing_or_non_bearer_token_is_401(ip_client: httpx.AsyncClient) -> None:
    for headers in ({}, {"Authorization": "Basic dXNlcjpwYXNz"}, {"Authorization": "Bearer"}):
        r = await ip_client.get(f"{API}/me", headers=headers)
        assert r.status_code == 401, headers
        assert r.headers["content-type"].startswith(PROBLEM)
        assert r.headers["www-authenticate"].startswith("Bearer")


async def test_wrong_role_is_403_problem_with_www_authenticate(
    ip_client: httpx.AsyncClient, tenant: Account
) -> None:
    landlord = await register(ip_client, role="landlord")
    for account in (tenant, landlord):
        token = (await login(ip_client, account))["access_token"]
        r = await ip_client.get(f"{API}/admin/users/{tenant.id}", headers=bearer(token))
        assert r.status_code == 403, r.text
        assert r.headers["content-type"].startswith(PROBLEM)
        assert 'error="insufficient_scope"' in r.headers["www-authenticate"]


async def test_invalid_token_is_401_before_the_role_check(ip_client: httpx.AsyncClient) -> None:
    r = await ip_client.get(f"{API}/admin/users/{uuid.uuid4()}", headers=bearer("x.y.z"))
    assert r.status_code == 401
    assert 'error="invalid_token"' in r.headers["www-authenticate"]


async def test_admin_promoted_by_cli_passes_the_role_check(
    ip_client: httpx.AsyncClient, tenant: Account
) -> None:
    admin = await register(ip_client)
    stale = (await login(ip_client, admin))["access_token"]
    assert "is now admin" in await promote(admin.email, "admin")
    # Tokens carry the role: the one issued before the promotion still says tenant.
    r = await ip_client.get(f"{API}/admin/users/{tenant.id}", headers=bearer(stale))
    assert r.status_code == 403
    fresh = (await login(ip_client, admin))["access_token"]
    r = await ip_client.get(f"{API}/admin/users/{tenant.id}", headers=bearer(fresh))
    assert r.status_code == 200, r.text
    assert r.json()["email"] == tenant.email
    missing = await ip_client.get(f"{API}/admin/users/{uuid.uuid4()}", headers=bearer(fresh))
    assert missing.status_code == 404
