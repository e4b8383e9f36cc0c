"""The fast tier's guard itself: connections are refused and recorded (this test clears the
record, since it made the attempts on purpose)."""

from __future__ import annotations

import asyncio
import contextvars
import socket

import psycopg
import pytest

from tests.unit.conftest import NetworkForbidden, NetworkGuard


def test_tcp_is_refused_and_recorded(network_guard: NetworkGuard) -> None:
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", 9), timeout=0.5)
    with pytest.raises(ConnectionRefusedError), socket.socket(socket.AF_INET6) as sock:
        sock.connect(("::1", 9))
    assert len(network_guard.attempts) == 2
    network_guard.attempts.clear()


async def test_asyncio_connections_are_refused(network_guard: NetworkGuard) -> None:
    """The path of every asyncio client (Redis, httpx over the network)."""
    with pytest.raises(ConnectionRefusedError):
        await asyncio.open_connection("127.0.0.1", 9)
    assert network_guard.attempts == ["tcp ('127.0.0.1', 9)"]
    network_guard.attempts.clear()


async def test_postgres_is_refused(network_guard: NetworkGuard) -> None:
    with pytest.raises(ConnectionRefusedError):
        await psycopg.AsyncConnection.connect("host=127.0.0.1 port=9 connect_timeout=1")
    with pytest.raises(ConnectionRefusedError):
        psycopg.connect("host=127.0.0.1 port=9 connect_timeout=1")
    assert network_guard.attempts == ["postgres (psycopg)", "postgres (psycopg)"]
    network_guard.attempts.clear()


def test_unix_sockets_stay_allowed(network_guard: NetworkGuard) -> None:
    left, right = socket.socketpair()
    with left, right:
        left.sendall(b"x")
        assert right.recv(1) == b"x"
    assert network_guard.attempts == []


async def test_tasks_of_other_contexts_keep_their_connections(network_guard: NetworkGuard) -> None:
    """In the full suite an application started by earlier tests runs background tasks (cache
    listener, page views, replica monitor) during these tests: they are not this test's."""

    async def elsewhere() -> None:
        await asyncio.open_connection("127.0.0.1", 9)  # nothing listens: a real refusal

    task = asyncio.get_running_loop().create_task(elsewhere(), context=contextvars.Context())
    with pytest.raises(ConnectionRefusedError) as raised:
        await task
    assert not isinstance(raised.value, NetworkForbidden)
    assert network_guard.attempts == []
