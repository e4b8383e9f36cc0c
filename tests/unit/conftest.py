"""The fast tier: tests that need no Postgres, Redis, nginx or any other server.

Every test here runs under a guard that fails it if it opens a TCP connection (IPv4 or IPv6,
through Python's sockets: Redis, HTTP, SMTP clients) or a Postgres connection (libpq connects
in C, past Python's sockets): a hidden dependency on a service cannot creep in. A test that
needs a service belongs next to the others of its domain under tests/, not here.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest

_INET = (socket.AF_INET, socket.AF_INET6)


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

    def connect(sock: socket.socket, address: Any) -> None:
        if sock.family in _INET:
            raise guard.refuse(f"tcp {address!r}")
        real_connect(sock, address)

    def connect_ex(sock: socket.socket, address: Any) -> int:
        if sock.family in _INET:
            raise guard.refuse(f"tcp {address!r}")
        return real_connect_ex(sock, address)

    def postgres(*args: Any, **kwargs: Any) -> Any:
        raise guard.refuse("postgres (psycopg)")

    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket.socket, "connect_ex", connect_ex)
    monkeypatch.setattr(psycopg, "connect", postgres)
    monkeypatch.setattr(psycopg.Connection, "connect", classmethod(postgres))
    monkeypatch.setattr(psycopg.AsyncConnection, "connect", classmethod(postgres))
    yield guard
    if guard.attempts:
        pytest.fail(
            "a fast-tier test tried to connect to a service: "
            + "; ".join(guard.attempts)
            + " (tests that need one live outside tests/unit)",
            pytrace=False,
        )
