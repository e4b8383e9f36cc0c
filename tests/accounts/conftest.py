"""Accounts fixtures: users made through the API, clients with their own client address."""

from __future__ import annotations

import random
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from sichrplace.app import create_app
from sichrplace.config import Settings

API = "/api/v1"


def random_ip() -> str:
    """A TEST-NET-ish address of our own, so throttling never touches other tests' 127.0.0.1."""
    return f"10.{random.randint(0, 255)}.{random.randint(0, 255)}.{random.randint(1, 254)}"


def strong_password() -> str:
    return f"Sp-{uuid.uuid4().hex[:10]}-pass"


@dataclass
class Account:
    id: str
    email: str
    password: str
    role: str


@asynccontextmanager
async def client_for(app: FastAPI, ip: str | None = None) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app, client=(ip or random_ip(), 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        yield c


@asynccontextmanager
async def running_app(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """A separate app instance (own settings, own keys) with its lifespan, and a client for it."""
    application = create_app(settings)
    async with application.router.lifespan_context(application), client_for(application) as c:
        yield c


@pytest.fixture
async def ip_client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """A client with a random address of its own (login failures are throttled per IP)."""
    async with client_for(app) as c:
        yield c


MakeClient = Callable[[str], AbstractAsyncContextManager[httpx.AsyncClient]]


@pytest.fixture
def make_client(app: FastAPI) -> MakeClient:
    return lambda ip: client_for(app, ip)


async def register(
    client: httpx.AsyncClient,
    *,
    role: str = "tenant",
    email: str | None = None,
    accept_language: str | None = None,
) -> Account:
    """A new account (German, unless `accept_language` prefers English: its language is the
    registering request's)."""
    email = email or f"acc-{uuid.uuid4().hex[:12]}@example.com"
    password = strong_password()
    body = {"email": email, "password": password, "full_name": "Erika Mustermann", "role": role}
    headers = {"Accept-Language": accept_language} if accept_language else {}
    r = await client.post(f"{API}/auth/register", json=body, headers=headers)
    assert r.status_code == 201, r.text
    return Account(r.json()["id"], email, password, role)


async def login(client: httpx.AsyncClient, account: Account) -> dict[str, Any]:
    r = await client.post(
        f"{API}/auth/login", json={"email": account.email, "password": account.password}
    )
    assert r.status_code == 200, r.text
    data: dict[str, Any] = r.json()
    return data


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
async def tenant(ip_client: httpx.AsyncClient) -> Account:
    return await register(ip_client)
