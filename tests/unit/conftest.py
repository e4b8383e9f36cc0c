"""The fast tier: tests that need no Postgres, Redis, nginx or any other server.

Every test here runs under a guard that fails it if it opens a TCP connection (IPv4 or IPv6,
through Python's sockets: Redis, HTTP, SMTP clients) or a Postgres connection (libpq connects
in C, past Python's sockets): a hidden dependency on a service cannot creep in. A test that
needs a service belongs next to the others of its domain under tests/, not here.

The guard judges what runs in the test's own context (its code, the tasks and `to_thread`
calls it starts): in the full suite, background tasks of an application started by earlier
tests keep their connections.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from contextvars import ContextVar
from typing import Any

import psycopg
import pytest

_INET = (socket.AF_INET, socket.AF_INET6)
_GUARDED: ContextVar[bool] = ContextVar("fast_tier_guarded", default=False)


class NetworkForbidden(ConnectionRefusedError):
    """What a connection attempt raises in the fast tier (an OSError, as a refusal would be:
    code that handles a dead server stays on its ordinary path, and the guard still fails the
    test afterwards)."""


class NetworkGuard:
    """The connection attempts a test made (the guard fails the test if there are any)."""

    def __init__(self) -> None:
        self.attempts: list[str] = []

    def refuse(self, what: str) -> NetworkForbidden:
        self.attempts.append(what)
        return NetworkForbidden(f"the fast tier opens no connections ({what})")


@pytest.fixture(autouse=True)
def network_guard(monkeypatch: pytest.MonkeyPatch) -> Iterator[NetworkGuard]:
    guard = NetworkGuard()
    real_connect = socket.socket.connect
    real_connect_ex = socket.socket.connect_ex
    real_psycopg_connect = psycopg.connect
    real_sync = psycopg.Connection.__dict__["connect"].__func__
    real_async = psycopg.AsyncConnection.__dict__["connect"].__func__

    def connect(sock: socket.socket, address: Any) -> None:
        if sock.family in _INET and _GUARDED.get():
            raise guard.refuse(f"tcp {address!r}")
        real_connect(sock, address)

    def connect_ex(sock: socket.socket, address: Any) -> int:
        if sock.family in _INET and _GUARDED.get():
            raise guard.refuse(f"tcp {address!r}")
        return real_connect_ex(sock, address)

    def postgres(real: Any) -> Any:
        def refused(*args: Any, **kwargs: Any) -> Any:
            if _GUARDED.get():
                raise guard.refuse("postgres (psycopg)")
            return real(*args, **kwargs)

        return refused

    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket.socket, "connect_ex", connect_ex)
    monkeypatch.setattr(psycopg, "connect", postgres(real_psycopg_connect))
    monkeypatch.setattr(psycopg.Connection, "connect", classmethod(postgres(real_sync)))
    monkeypatch.setattr(psycopg.AsyncConnection, "connect", classmethod(postgres(real_async)))
    token = _GUARDED.set(True)
    try:
        yield guard
    finally:
        _GUARDED.reset(token)
    if guard.attempts:
        pytest.fail(
            "a fast-tier test tried to connect to a service: "
            + "; ".join(guard.attempts)
            + " (tests that need one live outside tests/unit)",
            pytrace=False,
        )
