"""Where the stack keeps things, which OS users run what, and how to run a command as them."""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from sichrplace.config import PROJECT_ROOT, Settings

PG_BIN = Path(os.environ.get("SICHRPLACE_PG_BIN", "/usr/lib/postgresql/15/bin"))
TEMPLATES = PROJECT_ROOT / "deploy" / "stack"
REPLICATION_USER = "replicator"
PGBOUNCER_ADMIN = "pgbouncer"
# The Postgres nodes Patroni manages (1-based): two locally, a leader and a synchronous standby.
NODES = (1, 2)
# The exporters' Postgres role: pg_monitor only (statistics, no table data), by password.
MONITOR_USER = "monitor"


def is_root() -> bool:
    return os.geteuid() == 0


@dataclass(frozen=True)
class Layout:
    """Every path the stack uses, below one data folder."""

    root: Path

    @property
    def conf(self) -> Path:
        return self.root / "conf"

    @property
    def run(self) -> Path:
        return self.root / "run"

    @property
    def pg_socket(self) -> Path:
        return self.root / "run" / "pg"

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    def pg_node(self, index: int) -> Path:
        """Data directory of Postgres node `index` (1-based): which one is primary is
        Patroni's to decide and changes on failover."""
        return self.root / "pg" / f"node{index}"

    @property
    def pg_nodes(self) -> tuple[Path, ...]:
        return tuple(self.pg_node(i) for i in NODES)

    def pgbouncer_route(self, which: str) -> Path:
        """PgBouncer's included line for its write (`rw`) or read (`ro`) database, rewritten
        by the nodes' Patroni callbacks (stack.ha.routing); the Postgres OS user's to write."""
        return self.pg_socket / f"pgbouncer-{which}.ini"

    @property
    def pgbouncer_pidfile(self) -> Path:
        return self.pg_socket / "pgbouncer.pid"

    @property
    def etcd(self) -> Path:
        return self.root / "etcd"

    @property
    def redis(self) -> Path:
        return self.root / "redis"

    @property
    def nginx(self) -> Path:
        return self.root / "nginx"

    @property
    def mail(self) -> Path:
        return self.root / "mail"

    @property
    def media(self) -> Path:
        return self.root / "media"

    @property
    def prometheus(self) -> Path:
        return self.root / "prometheus"

    @property
    def alertmanager(self) -> Path:
        return self.root / "alertmanager"

    @property
    def webhooks_file(self) -> Path:
        """What the local webhook receiver got (one JSON object a line)."""
        return self.root / "alerts" / "webhooks.jsonl"

    @property
    def supervisor_conf(self) -> Path:
        return self.conf / "supervisord.conf"

    @property
    def secrets_file(self) -> Path:
        return self.conf / "secrets.env"


def layout_for(settings: Settings) -> Layout:
    return Layout(settings.stack.data_dir)


def pg_os_user() -> str | None:
    """The OS user Postgres and PgBouncer run as: `postgres` when we are root (both refuse
    root), else ourselves."""
    if not is_root():
        return None
    try:
        pwd.getpwnam("postgres")
    except KeyError:
        sys.exit("stack: the 'postgres' OS user is missing; run scripts/bootstrap.sh as root")
    return "postgres"


def chown_pg(path: Path) -> None:
    user = pg_os_user()
    if user:
        shutil.chown(path, user=user, group=user)


def run_as_pg(args: list[str], *, env: dict[str, str] | None = None, check: bool = True) -> str:
    user = pg_os_user()
    full = ["runuser", "-u", user, "--", *args] if user else args
    merged = {**os.environ, **(env or {})}
    proc = subprocess.run(full, env=merged, capture_output=True, text=True, check=False, cwd="/")
    if check and proc.returncode != 0:
        raise RuntimeError(f"{' '.join(args[:2])} failed: {proc.stderr.strip() or proc.stdout}")
    return proc.stdout


def postmaster_pid(data_dir: Path) -> int | None:
    """The pid of the Postgres running on `data_dir`, or None when none runs."""
    try:
        pid = int((data_dir / "postmaster.pid").read_text().split("\n", 1)[0])
        os.kill(pid, 0)
    except (FileNotFoundError, ValueError, ProcessLookupError):
        return None
    except PermissionError:  # alive, owned by the Postgres OS user
        return pid
    return pid


def ensure_dirs(layout: Layout) -> None:
    # Every folder on the way to the data directory must be enterable by the postgres user.
    for parent in reversed(layout.root.parents):
        if parent == Path("/"):
            continue
        if not parent.exists():
            parent.mkdir(mode=0o755)
    for path in (
        layout.root,
        layout.conf,
        layout.run,
        layout.logs,
        layout.root / "pg",
        layout.etcd,
        layout.redis,
        layout.nginx,
        layout.nginx / "tmp",
        layout.mail,
        layout.media,
        layout.prometheus,
        layout.alertmanager,
        layout.webhooks_file.parent,
    ):
        path.mkdir(mode=0o755, parents=True, exist_ok=True)
    for sub in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"):
        tmp = layout.nginx / "tmp" / sub
        tmp.mkdir(exist_ok=True)
        tmp.chmod(0o1777)  # nginx workers drop to an unprivileged user when started as root
    # WAL goes to pgBackRest's repository (stack/backup), made by `ensure_stanza`.
    layout.pg_socket.mkdir(mode=0o750, parents=True, exist_ok=True)
    chown_pg(layout.pg_socket)
    chown_pg(layout.root / "pg")
    link = PROJECT_ROOT / ".stack"
    if not link.exists() and not link.is_symlink():
        with contextlib.suppress(OSError):
            link.symlink_to(layout.root)
