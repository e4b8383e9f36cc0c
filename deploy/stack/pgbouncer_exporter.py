"""Debian's prometheus-pgbouncer-exporter (1.7), fitted to PgBouncer 1.18 and reconnecting.

Run by the stack with Debian's own python3 (the package lives in its dist-packages), with the
exporter's usual arguments. Two things in the package do not work with the stack's PgBouncer:

- It reads SHOW STATS columns that PgBouncer 1.8 renamed (`total_requests`, ...) and dies at
  start with a KeyError; here it reads the current ones (transactions and queries apart) and,
  from SHOW POOLS, the server side of each pool too (active, idle, used, waits).
- It opens one connection at start and never another: a PgBouncer restart would leave it
  failing every scrape until restarted itself. Here the connection is opened on first use and
  again after it broke, so a scrape during an outage fails (the target is down, as PgBouncer
  is) and the next one after it succeeds.
"""

from __future__ import annotations

import sys
from typing import Any

import psycopg2
from prometheus_pgbouncer_exporter import cli, collectors, utils

# SHOW STATS column -> (metric name after "pgbouncer_", help), as of PgBouncer 1.8+.
STATS = {
    "total_xact_count": ("transactions_total", "SQL transactions pooled"),
    "total_query_count": ("queries_total", "SQL queries pooled"),
    "total_received": ("received_bytes_total", "Bytes received from clients"),
    "total_sent": ("sent_bytes_total", "Bytes sent to clients"),
    "total_xact_time": ("transaction_microseconds_total", "Time spent in transactions"),
    "total_query_time": ("query_microseconds_total", "Time spent running queries"),
    "total_wait_time": ("client_wait_microseconds_total", "Time clients waited for a server"),
}
# SHOW POOLS, per database and user: the package reads only the first two. The server
# side is prefixed `pool_` (the LISTS collector has its own totals, e.g. `used_servers`).
POOLS = {
    "cl_active": ("active_clients", "Client connections linked to a server connection"),
    "cl_waiting": ("waiting_clients", "Client connections waiting for a server connection"),
    "sv_active": ("pool_active_servers", "Server connections linked to a client"),
    "sv_idle": ("pool_idle_servers", "Server connections idle and ready for a client"),
    "sv_used": ("pool_used_servers", "Server connections idle longer than server_check_delay"),
    "sv_login": ("pool_login_servers", "Server connections logging in"),
    "maxwait": ("pool_max_wait_seconds", "Seconds the oldest waiting client has waited"),
}
DATABASES = {
    "pool_size": ("pool_size", "Configured pool size"),
    "reserve_pool": ("reserve_pool", "Configured reserve pool size"),
    "current_connections": ("current_connections", "Server connections open to the database"),
}


class ReconnectingConnection:
    """What the exporter's collectors use of a connection: `cursor()`."""

    def __init__(self, user: str, port: str, host: str) -> None:
        self._args = (user, port, host)
        self._conn: Any = None

    def cursor(self) -> Any:
        if self._conn is not None and self._conn.closed:
            self._conn = None
        if self._conn is None:
            self._conn = utils.get_connection(*self._args)
        return _Cursor(self)

    def broken(self) -> None:
        if self._conn is not None:
            try:
                self._conn.close()
            finally:
                self._conn = None

    def raw_cursor(self) -> Any:
        return self._conn.cursor()


class _Cursor:
    """A cursor that drops the connection when a statement fails on it."""

    def __init__(self, owner: ReconnectingConnection) -> None:
        self._owner = owner
        self._cur = owner.raw_cursor()

    def __enter__(self) -> Any:
        self._cur.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self._cur.__exit__(*exc)

    def execute(self, *args: Any) -> Any:
        try:
            return self._cur.execute(*args)
        except (psycopg2.OperationalError, psycopg2.InterfaceError):
            self._owner.broken()
            raise

    def __getattr__(self, name: str) -> Any:
        return getattr(self._cur, name)


def _pgbouncer_name(_self: object, row: dict[str, Any]) -> list[str]:
    return [row["name"]]


def main() -> None:
    # cli.main() calls get_connection once at start; hand it the reconnecting one instead
    # (which connects lazily, so the exporter also starts while PgBouncer is still down).
    cli.get_connection = ReconnectingConnection  # type: ignore[assignment]
    collectors.StatsCollector.metrics = STATS
    collectors.PoolsCollector.metrics = POOLS
    collectors.DatabasesCollector.metrics = DATABASES
    # Label a database by its PgBouncer name: `sichrplace` and `sichrplace_ro` both point at
    # the Postgres database `sichrplace`, and the package's label made their series clash.
    collectors.DatabasesCollector.get_labels_for_row = _pgbouncer_name
    sys.exit(cli.main())


if __name__ == "__main__":
    main()
