"""POST /auth/register: the contract's rules, including a concurrent duplicate sign-up."""

from __future__ import annotations

import asyncio
import uuid

import httpx

from tests.accounts.conftest import API, strong_password

PROBLEM = "application/problem+json"


def body(**overrides: object) -> dict[str, object]:
    data: dict[str, object] = {
        "email": f"reg-{uuid.uuid4().hex[:12]}@example.com",
        "password": strong_password(),
        "full_name": "Max Mustermann",
        "role": "tenant",
    }
    data.update(overrides)
    return data


def fields(response: httpx.Response) -> set[str]:
    assert response.headers["content-type"].startswith(PROBLEM), response.text
    return {e["field"] for e in response.json().get("errors", [])}


async def test_register_returns_201_with_unverified_account(ip_client: httpx.AsyncClient) -> None:
    data = body(role="landlord")
    r = await ip_client.post(f"{API}/auth/register", json=data)
    assert r.status_code == 201, r.text
    out = r.json()
    assert out["email"] == data["email"]
    assert out["role"] == "landlord"
    assert out["email_verified"] is False
    assert uuid.UUID(out["id"])
    assert "password" not in out
    assert "password_hash" not in out


async def test_duplicate_email_is_409_case_insensitively(ip_client: httpx.AsyncClient) -> None:
    data = body(email=f"Dup-{uuid.uuid4().hex[:8]}@Example.com")
    assert (await ip_client.post(f"{API}/auth/register", json=data)).status_code == 201
    again = body(email=str(data["email"]).lower())
    r = await ip_client.post(f"{API}/auth/register", json=again)
    assert r.status_code == 409, r.text
    assert r.headers["content-type"].startswith(PROBLEM)
    assert r.json()["type"].endswith("/email-taken")


async def test_concurrent_registrations_of_one_email_give_one_201_rest_409(
    ip_client: httpx.AsyncClient,
) -> None:
    local = f"race-{uuid.uuid4().hex[:8]}"
    variants = [f"{local}@example.com", f"{local.upper()}@example.com", f"{local}@EXAMPLE.com"]
    responses = await asyncio.gather(
        *(ip_client.post(f"{API}/auth/register", json=body(email=e)) for e in variants * 2)
    )
    codes = sorted(r.status_code for r in responses)
    assert codes == [201] + [409] * 5, [r.text for r in responses]


async def test_short_password_is_422_naming_password(ip_client: httpx.AsyncClient) -> None:
    r = await ip_client.post(f"{API}/auth/register", json=body(password="Ab1-xyz9"))
    assert r.status_code == 422
    assert fields(r) == {"password"}


async def test_common_password_is_422_naming_password(ip_client: httpx.AsyncClient) -> None:
    for common in ("password1234", "QwertyUiop", "passwort123"):
        r = await ip_client.post(f"{API}/auth/register", json=body(password=common))
        assert r.status_code == 422, common
        assert fields(r) == {"password"}
        assert "verbreitet" in r.json()["errors"][0]["message"]  # German by default


async def test_admin_cannot_self_register(ip_client: httpx.AsyncClient) -> None:
    r = await ip_client.post(f"{API}/auth/register", json=body(role="admin"))
    assert r.status_code == 422
    assert fields(r) == {"role"}


async def test_rejected_registration_stores_nothing(ip_client: httpx.AsyncClient) -> None:
    data = body(password="short")
    assert (await ip_client.post(f"{API}/auth/register", json=data)).status_code == 422
    ok = body(email=data["email"])
    assert (await ip_client.post(f"{API}/auth/register", json=ok)).status_code == 201


async def test_malformed_json_is_400_problem_naming_body(ip_client: httpx.AsyncClient) -> None:
    r = await ip_client.post(
        f"{API}/auth/register",
        content=b'{"email": "x@example.com", "password": ',
        headers={"content-type": "application/json"},
    )
    assert r.status_code == 400
    assert fields(r) == {"body"}


async def test_wrong_types_are_422_naming_each_field(ip_client: httpx.AsyncClient) -> None:
    r = await ip_client.post(
        f"{API}/auth/register",
        json=body(password=12345678901, email=["a@example.com"], full_name=None),
    )
    assert r.status_code == 422
    assert fields(r) == {"password", "email", "full_name"}


async def test_missing_fields_and_bad_email_are_named(ip_client: httpx.AsyncClient) -> None:
    r = await ip_client.post(f"{API}/auth/register", json={"email": "not-an-email"})
    assert r.status_code == 422
    assert fields(r) == {"email", "password", "full_name", "role"}
