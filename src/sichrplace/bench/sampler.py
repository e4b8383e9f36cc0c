"""The soak's sampler: every `interval_s` seconds, per stack process its memory and open files,
the connections (Postgres, PgBouncer, Redis), the job queues and the API's p95 latency.

A sample is a flat `{series: value}` map, a series named `kind/subject`:

- `mem_mb/<subject>`: RSS of one process (api-N, worker-N, pgbouncer, redis, patroni-nodeN);
  of a process group (nginx, haproxy, postgres-nodeN) the PSS sum less shared memory (its
  private memory, libraries shared out); `shmem_mb/<group>` the shared memory's PSS (Postgres'
  shared buffers as touched so far) and `rss_mb/<group>` the plain RSS sum, both recorded only;
- `fds/<subject>`, `procs/<subject>`: open file descriptors (summed over a group), processes;
  `backends/postgres-nodeN`: the node's client backends (from their process titles);
- `conn/pg.total`, `conn/pg.<user>.<app>`, `conn/pg.idle_in_transaction`: pg_stat_activity's
  client backends on the leader (through the write endpoint, so it follows a failover);
- `conn/pgbouncer.<db>.clients|waiting|servers` (`SHOW POOLS`), `conn/pgbouncer.clients`
  (`SHOW CLIENTS`); `conn/redis.clients`, `conn/redis.blocked` (Redis `INFO clients`);
- `queue/<queue>.todo|doing`: procrastinate_jobs by queue and status;
- `latency/api.p95_ms`, `rps/api`: the API's p95 and request rate over the last window.

The latency comes from Prometheus (the API's request-duration histogram), not from the mixed
load's timeline: the contract's timeline carries counts per second, no latencies, and the
server-side histogram covers every request of every instance, live, on the sampler's clock.
"""

from __future__ import annotations

import contextlib
import math
import re
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psycopg
import redis

from sichrplace.bench.runner import program_pids
from sichrplace.bench.soak_check import Limits
from sichrplace.config import Settings
from sichrplace.stack.ha.routing import admin_conninfo
from sichrplace.stack.layout import NODES, layout_for, postmaster_pid

# Programs sampled as one process each (by name prefix, and by name), and those sampled with
# their children (a group). The exporters and fakes are the stack's tooling, not its service.
SINGLE = ("api-", "worker-", "patroni-")
SINGLE_NAMES = ("pgbouncer", "redis")
GROUPS = ("nginx", "haproxy")
APP_NAME = "sichrplace-soak"
# The routes the latency leaves out: probes, scrapes and the event stream (held open for
# minutes, its "duration" is a session's length).
EXCLUDED_ROUTES = "/healthz|/readyz|/metrics|.*/events"
_PID_SUFFIX = re.compile(r"-\d+$")
# "postgres: <cluster>: <user> <db> <host>(<port>) <state>" or "... [local] <state>"
_BACKEND = re.compile(r"^postgres: [^:]*: (\S+) \S+ (\[local\]|\S+\(\d+\))")
_NOT_CLIENTS = ("walsender", "autovacuum", "logical", "parallel", "background")


@dataclass(frozen=True)
class Sample:
    t: float
    values: dict[str, float]
    pids: dict[str, int]  # subject -> its main pid (a change is a restart)
    errors: list[str] = field(default_factory=list)


# --- /proc, parsed (pure functions on the files' text) ---


def status_rss_kb(text: str) -> int | None:
    """VmRSS from /proc/<pid>/status, in kB."""
    for line in text.splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return None


def smaps_rollup_kb(text: str) -> dict[str, int]:
    """The `Key: N kB` fields of /proc/<pid>/smaps_rollup (Rss, Pss, Pss_Anon, Pss_Shmem...)."""
    out: dict[str, int] = {}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[0].endswith(":") and parts[2] == "kB":
            out[parts[0][:-1]] = int(parts[1])
    return out


def stat_ppid(text: str) -> int:
    """The parent pid from /proc/<pid>/stat (after the command name, which may hold spaces)."""
    return int(text.rsplit(")", 1)[1].split()[1])


def limits_nofile(text: str) -> int | None:
    """The soft 'Max open files' from /proc/<pid>/limits."""
    for line in text.splitlines():
        if line.startswith("Max open files"):
            soft = line.split()[3]
            return int(soft) if soft.isdigit() else None
    return None


def is_client_backend(title: str) -> bool:
    """Whether a Postgres process title is a client backend's (not walsender, autovacuum)."""
    found = _BACKEND.match(title)
    return found is not None and not found.group(1).startswith(_NOT_CLIENTS)


def app_group(application_name: str) -> str:
    """`sichrplace-jobs-1133` -> `sichrplace-jobs` (a pid in the name is not a new kind)."""
    name = _PID_SUFFIX.sub("", application_name.strip()) or "-"
    return re.sub(r"[^A-Za-z0-9_.-]", "_", name)


def pool_series(pools: Iterable[dict[str, Any]]) -> dict[str, float]:
    """`SHOW POOLS` rows -> clients, waiting clients and server connections per database."""
    out: dict[str, float] = {}
    for row in pools:
        db = str(row["database"])
        if db == "pgbouncer":
            continue
        prefix = f"conn/pgbouncer.{db}"
        clients = int(row["cl_active"]) + int(row["cl_waiting"])
        servers = sum(int(row.get(k) or 0) for k in ("sv_active", "sv_idle", "sv_used", "sv_tested",
                                                      "sv_login"))  # fmt: skip
        out[f"{prefix}.clients"] = out.get(f"{prefix}.clients", 0) + clients
        out[f"{prefix}.waiting"] = out.get(f"{prefix}.waiting", 0) + int(row["cl_waiting"])
        out[f"{prefix}.servers"] = out.get(f"{prefix}.servers", 0) + servers
    return out


def activity_series(
    rows: Iterable[tuple[str | None, str | None, str | None, int]],
) -> dict[str, float]:
    """pg_stat_activity's (user, application, state, count) -> total, per user and app, and
    idle in transaction."""
    out: dict[str, float] = {"conn/pg.total": 0, "conn/pg.idle_in_transaction": 0}
    for user, app, state, count in rows:
        out["conn/pg.total"] += count
        key = f"conn/pg.{user or '-'}.{app_group(app or '')}"
        out[key] = out.get(key, 0) + count
        if state and state.startswith("idle in transaction"):
            out["conn/pg.idle_in_transaction"] += count
    return out


def prometheus_value(body: dict[str, Any]) -> float | None:
    """The single value of an instant query's answer (None without one, or NaN)."""
    result = body.get("data", {}).get("result", [])
    if not result:
        return None
    value = float(result[0]["value"][1])
    return None if math.isnan(value) or math.isinf(value) else value


# --- processes ---


def _read(path: str) -> str | None:
    try:
        return Path(path).read_text(errors="replace")
    except OSError:
        return None


def children() -> dict[int, list[int]]:
    """Parent pid -> child pids, from /proc/*/stat."""
    out: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        text = _read(f"/proc/{entry.name}/stat")
        if text:
            out.setdefault(stat_ppid(text), []).append(int(entry.name))
    return out


def subjects(settings: Settings) -> dict[str, list[int]]:
    """Each sampled subject's processes, its main pid first."""
    kids = children()
    out: dict[str, list[int]] = {}
    for name, pid in program_pids(settings, "").items():
        if name.startswith(SINGLE) or name in SINGLE_NAMES:
            out[name] = [pid]
        elif name in GROUPS:
            out[name] = [pid, *kids.get(pid, [])]
    layout = layout_for(settings)
    for index in NODES:
        postmaster = postmaster_pid(layout.pg_node(index))
        if postmaster is not None:
            out[f"postgres-node{index}"] = [postmaster, *kids.get(postmaster, [])]
    return out


def process_series(name: str, pids: list[int]) -> dict[str, float]:
    """Memory, open files and process count of one subject. A group's memory is its PSS sum
    less the shared memory (Postgres' shared buffers fill up to their size as pages are
    first touched: growth that is no leak); that shared part is recorded as `shmem_mb`."""
    rss = private = shmem = fds = alive = backends = 0
    group = len(pids) > 1 or name in GROUPS or name.startswith("postgres-")
    for pid in pids:
        status = _read(f"/proc/{pid}/status")
        kb = status_rss_kb(status) if status else None
        if kb is None:
            continue
        alive += 1
        rss += kb
        if group:
            rollup = smaps_rollup_kb(_read(f"/proc/{pid}/smaps_rollup") or "")
            private += rollup.get("Pss", kb) - rollup.get("Pss_Shmem", 0)
            shmem += rollup.get("Pss_Shmem", 0)
        with contextlib.suppress(OSError):
            fds += sum(1 for _ in Path(f"/proc/{pid}/fd").iterdir())
        if name.startswith("postgres-"):
            title = _read(f"/proc/{pid}/cmdline") or ""
            backends += is_client_backend(title.replace("\0", " ").strip())
    if not alive:
        return {}
    out = {
        f"mem_mb/{name}": round((private if group else rss) / 1024, 2),
        f"fds/{name}": fds,
        f"procs/{name}": alive,
    }
    if group:
        out[f"rss_mb/{name}"] = round(rss / 1024, 2)
        out[f"shmem_mb/{name}"] = round(shmem / 1024, 2)
    if name.startswith("postgres-"):
        out[f"backends/{name}"] = backends
    return out


class Sampler(threading.Thread):
    """Samples every `interval_s` seconds until `stop()`; `samples` holds what it found. A
    source that fails (a failover, Prometheus away) is noted in the sample's errors and
    retried at the next tick: the sampler never stops the soak."""

    def __init__(
        self, settings: Settings, interval_s: float = 10.0, log: Callable[[str], None] = print
    ) -> None:
        super().__init__(name="soak-sampler", daemon=True)
        self.settings = settings
        self.interval_s = interval_s
        self.log = log
        self.samples: list[Sample] = []
        self._halt = threading.Event()
        self._pg: psycopg.Connection[Any] | None = None
        self._bouncer: psycopg.Connection[Any] | None = None
        self._redis = redis.Redis.from_url(
            settings.redis.url, socket_timeout=3, client_name=APP_NAME
        )
        self._http = httpx.Client(timeout=5)
        self.prometheus = f"http://127.0.0.1:{settings.stack.prometheus_port}"

    # connections kept for the whole soak (a new one per tick would be a connection churn of
    # our own in the very counts we sample), reopened after a failure
    def _pg_conn(self) -> psycopg.Connection[Any]:
        if self._pg is None or self._pg.closed:
            self._pg = psycopg.connect(
                self.settings.db.direct_dsn, autocommit=True, connect_timeout=3,
                application_name=APP_NAME, options="-c statement_timeout=5000",
            )  # fmt: skip
        return self._pg

    def _bouncer_conn(self) -> psycopg.Connection[Any]:
        if self._bouncer is None or self._bouncer.closed:
            conninfo = admin_conninfo(self.settings, layout_for(self.settings))
            # The admin console speaks the simple protocol only: no prepared statements
            # (psycopg prepares a query from its fifth run on by default).
            self._bouncer = psycopg.connect(
                conninfo, autocommit=True, connect_timeout=3, prepare_threshold=None
            )
        return self._bouncer

    def _postgres(self) -> dict[str, float]:
        conn = self._pg_conn()
        rows = conn.execute(
            "SELECT usename, application_name, state, count(*)::int FROM pg_stat_activity"
            " WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()"
            " GROUP BY 1, 2, 3"
        ).fetchall()
        out = activity_series(rows)
        for queue, status, count in conn.execute(
            "SELECT queue_name, status::text, count(*)::int FROM procrastinate_jobs"
            " WHERE status IN ('todo', 'doing') GROUP BY 1, 2"
        ).fetchall():
            out[f"queue/{queue}.{status}"] = count
        return out

    def _pgbouncer(self) -> dict[str, float]:
        conn = self._bouncer_conn()
        cur = conn.execute("SHOW POOLS")
        names = [d.name for d in cur.description or []]
        out = pool_series(dict(zip(names, row, strict=True)) for row in cur.fetchall())
        out["conn/pgbouncer.clients"] = len(conn.execute("SHOW CLIENTS").fetchall())
        return out

    def _redis_clients(self) -> dict[str, float]:
        info = self._redis.info("clients")
        return {
            "conn/redis.clients": float(info["connected_clients"]),
            "conn/redis.blocked": float(info.get("blocked_clients", 0)),
        }

    def _latency(self) -> dict[str, float]:
        window = f"{max(30, round(self.interval_s * 2))}s"  # >= 6 scrapes at 5 s
        selector = f'job="api",route!~"{EXCLUDED_ROUTES}"'
        queries = {
            "latency/api.p95_ms": "histogram_quantile(0.95, sum by (le) (rate("
            f"sichrplace_http_request_duration_seconds_bucket{{{selector}}}[{window}])))",
            "rps/api": "sum(rate("
            f"sichrplace_http_request_duration_seconds_count{{{selector}}}[{window}]))",
        }
        out: dict[str, float] = {}
        for key, query in queries.items():
            resp = self._http.get(f"{self.prometheus}/api/v1/query", params={"query": query})
            value = prometheus_value(resp.raise_for_status().json())
            if value is not None:
                out[key] = round(value * 1000, 2) if key.endswith("_ms") else round(value, 2)
        return out

    def sample(self) -> Sample:
        """One tick: every source, each on its own (one failing leaves the others)."""
        t = time.time()
        values: dict[str, float] = {}
        pids: dict[str, int] = {}
        errors: list[str] = []
        try:
            for name, found in subjects(self.settings).items():
                values.update(process_series(name, found))
                pids[name] = found[0]
        except Exception as exc:  # noted, sampled again next tick
            errors.append(f"processes: {exc}")
        sources: dict[str, Callable[[], dict[str, float]]] = {
            "postgres": self._postgres,
            "pgbouncer": self._pgbouncer,
            "redis": self._redis_clients,
            "prometheus": self._latency,
        }
        for source, read in sources.items():
            try:
                values.update(read())
            except Exception as exc:  # noted, sampled again next tick
                errors.append(f"{source}: {type(exc).__name__}: {exc}".strip()[:300])
                self._drop(source)
        return Sample(t, values, pids, errors)

    def _drop(self, source: str) -> None:
        conn = {"postgres": self._pg, "pgbouncer": self._bouncer}.get(source)
        if conn is not None:
            with contextlib.suppress(Exception):
                conn.close()

    def run(self) -> None:
        next_at = time.monotonic()
        while not self._halt.is_set():
            found = self.sample()
            self.samples.append(found)
            for error in found.errors:
                self.log(f"  sampler: {error}")
            next_at += self.interval_s
            self._halt.wait(max(0.0, next_at - time.monotonic()))

    def stop(self) -> None:
        """Ends the loop after the tick under way, and closes the connections."""
        self._halt.set()
        if self.is_alive():
            self.join(timeout=self.interval_s + 30)
        self.close()

    def close(self) -> None:
        for conn in (self._pg, self._bouncer):
            if conn is not None:
                with contextlib.suppress(Exception):
                    conn.close()
        with contextlib.suppress(Exception):
            self._redis.close()
        self._http.close()

    def read_limits(self) -> Limits:
        """The capacities the counted series are judged against, from the running stack."""
        settings = self.settings
        conn = self._pg_conn()
        max_conn = int(_show(conn, "max_connections"))
        reserved = int(_show(conn, "superuser_reserved_connections"))
        config = {str(r[0]): str(r[1]) for r in self._bouncer_conn().execute("SHOW CONFIG")}
        processes = settings.stack.api_instances + settings.stack.workers
        # Each API instance and worker has a primary and a replica engine, each pool_size +
        # max_overflow connections at most; the exporters and this sampler a few more.
        engine = settings.db.pool_size + settings.db.max_overflow
        clients = min(int(config["max_client_conn"]), processes * 2 * engine + 16)
        fds = {}
        for name, found in subjects(settings).items():
            text = _read(f"/proc/{found[0]}/limits")
            soft = limits_nofile(text) if text else None
            if soft is not None:
                fds[name] = soft * len(found)
        return Limits(
            pg_connections=max_conn - reserved,
            pgbouncer_clients=clients,
            pgbouncer_servers=int(config["default_pool_size"]) + int(config["reserve_pool_size"]),
            # A Redis pool per process (its pub/sub connections come from it), twice for the
            # processes that keep a second client for the event hub; exporters and us.
            redis_clients=processes * 2 * settings.redis.max_connections + 16,
            queue_doing=settings.stack.workers * settings.jobs.concurrency,
            queue_todo=QUEUE_BACKLOG,
            fds=fds,
        )


# The backlog a queue may hold at any time during the soak (see docs/performance.md).
QUEUE_BACKLOG = 500


def _show(conn: psycopg.Connection[Any], name: str) -> str:
    row = conn.execute(f"SHOW {name}").fetchone()  # a fixed setting name, no user input
    if row is None:
        raise RuntimeError(f"SHOW {name} returned nothing")
    return str(row[0])
