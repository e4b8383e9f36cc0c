"""Render deploy/stack/*.tmpl into the data folder."""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
import shlex
import sys
from pathlib import Path
from string import Template

from sichrplace.config import PROJECT_ROOT, ObservabilityPorts, Settings
from sichrplace.stack.layout import (
    PG_BIN,
    PGBOUNCER_ADMIN,
    REPLICATION_USER,
    TEMPLATES,
    Layout,
    chown_pg,
    pg_os_user,
)


def _template(name: str) -> Template:
    return Template((TEMPLATES / name).read_text())


def _write(path: Path, text: str, mode: int = 0o644) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(text)
    tmp.chmod(mode)
    tmp.replace(path)


def stack_secrets(layout: Layout) -> dict[str, str]:
    """Passwords the stack makes for itself once (replication, PgBouncer admin)."""
    values: dict[str, str] = {}
    if layout.secrets_file.exists():
        for line in layout.secrets_file.read_text().splitlines():
            key, _, value = line.partition("=")
            if key:
                values[key] = value
    changed = False
    for key in ("REPLICATION_PASSWORD", "PGBOUNCER_ADMIN_PASSWORD"):
        if key not in values:
            values[key] = secrets.token_urlsafe(18)
            changed = True
    if changed:
        _write(layout.secrets_file, "".join(f"{k}={v}\n" for k, v in values.items()), 0o600)
    return values


def scram_verifier(password: str, iterations: int = 4096) -> str:
    """A SCRAM-SHA-256 verifier, so PgBouncer's auth file holds no plain password."""
    salt = os.urandom(16)
    salted = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, iterations)
    client_key = hmac.new(salted, b"Client Key", "sha256").digest()
    stored_key = hashlib.sha256(client_key).digest()
    server_key = hmac.new(salted, b"Server Key", "sha256").digest()
    b64 = base64.b64encode
    return (
        f"SCRAM-SHA-256${iterations}:{b64(salt).decode()}"
        f"${b64(stored_key).decode()}:{b64(server_key).decode()}"
    )


def postgres_conf(settings: Settings, layout: Layout, role: str) -> str:
    port = settings.stack.primary_port if role == "primary" else settings.stack.replica_port
    return _template("postgresql.conf.tmpl").substitute(
        role=role, port=port, socket_dir=layout.pg_socket, archive_dir=layout.wal_archive
    )


def write_postgres_conf(settings: Settings, layout: Layout, role: str, data_dir: Path) -> None:
    conf = data_dir / "sichrplace.conf"
    _write(conf, postgres_conf(settings, layout, role), 0o600)
    chown_pg(conf)
    main = data_dir / "postgresql.conf"
    if "include 'sichrplace.conf'" not in main.read_text():
        with main.open("a") as fh:
            fh.write("\ninclude 'sichrplace.conf'\n")
    hba = data_dir / "pg_hba.conf"
    _write(hba, _template("pg_hba.conf.tmpl").substitute(replication_user=REPLICATION_USER), 0o600)
    chown_pg(hba)


def python_env(settings: Settings) -> dict[str, str]:
    """What every Python program of the stack needs to find the others."""
    s = settings.stack
    return {
        "SICHRPLACE_STACK_DATA_DIR": str(s.data_dir),
        "SICHRPLACE_STACK_PRIMARY_PORT": str(s.primary_port),
        "SICHRPLACE_STACK_REPLICA_PORT": str(s.replica_port),
        "SICHRPLACE_STACK_PGBOUNCER_PORT": str(s.pgbouncer_port),
        "SICHRPLACE_STACK_REDIS_PORT": str(s.redis_port),
        "SICHRPLACE_STACK_NGINX_PORT": str(s.nginx_port),
        "SICHRPLACE_STACK_SMTP_PORT": str(s.smtp_port),
        "PYTHONUNBUFFERED": "1",
        # Spans go to the stack's own OTLP receiver (`sichrplace traces show`); the ratio and
        # the switch follow the environment `stack up` ran in (the on/off benchmark).
        "SICHRPLACE_TRACING_OTLP_ENDPOINT": f"http://127.0.0.1:{otlp_port(settings)}/v1/traces",
        "SICHRPLACE_TRACING_ENABLED": str(settings.tracing.enabled).lower(),
        "SICHRPLACE_TRACING_SAMPLE_RATIO": str(settings.tracing.sample_ratio),
    }


def otlp_port(settings: Settings) -> int:
    return ObservabilityPorts(settings.stack.exporters_base_port).otlp_receiver


def api_ports(settings: Settings, instances: int) -> list[int]:
    return [settings.stack.api_base_port + i for i in range(instances)]


def _program(name: str, command: str, layout: Layout, **opts: str) -> str:
    defaults = {"startsecs": "1", "stopsignal": "TERM", "stopwaitsecs": "30", "extra": ""}
    defaults.update(opts)
    return _template("program.tmpl").substitute(
        name=name, command=command, log_dir=layout.logs, **defaults
    )


def _env_line(env: dict[str, str]) -> str:
    inner = ",".join(f'{k}="{v}"' for k, v in sorted(env.items()))
    return f"environment = {inner}"


def supervisor_programs(settings: Settings, layout: Layout, instances: int, workers: int) -> str:
    pg_user = pg_os_user()
    as_pg = f"user = {pg_user}" if pg_user else ""
    bin_dir = Path(sys.executable).parent
    cli = bin_dir / "sichrplace"
    env = _env_line(python_env(settings))
    pg_env = 'environment = LANG="C.UTF-8"'
    blocks = [
        _program(
            f"postgres-{role}",
            f"{PG_BIN}/postgres -D {data_dir}",
            layout,
            stopsignal="INT",
            stopwaitsecs="60",
            startsecs="2",
            extra=f"{as_pg}\n{pg_env}",
        )
        for role, data_dir in (("primary", layout.pg_primary), ("replica", layout.pg_replica))
    ]
    blocks += [
        _program(
            "pgbouncer",
            f"/usr/sbin/pgbouncer {layout.conf / 'pgbouncer.ini'}",
            layout,
            stopsignal="INT",
            extra=as_pg,
        ),
        _program("redis", f"/usr/bin/redis-server {layout.conf / 'redis.conf'}", layout),
        _program(
            "smtp",
            f"{cli} mail sink --host 127.0.0.1 --port {settings.stack.smtp_port}"
            f" --dir {layout.mail}",
            layout,
            extra=env,
        ),
    ]
    blocks.append(
        _program(
            "otlp-receiver",
            f"{cli} traces receive --port {otlp_port(settings)}"
            f" --store {layout.root / 'traces' / 'spans.sqlite'}",
            layout,
            extra=env,
        )
    )
    for i, port in enumerate(api_ports(settings, instances), start=1):
        blocks.append(
            _program(
                f"api-{i}",
                f"{cli} serve --host 127.0.0.1 --port {port}",
                layout,
                stopwaitsecs="40",
                extra=env,
            )
        )
    for i in range(1, workers + 1):
        blocks.append(
            _program(f"worker-{i}", f"{cli} jobs worker", layout, stopwaitsecs="60", extra=env)
        )
    nginx_cmd = (
        f"/usr/sbin/nginx -p {layout.nginx} -c {layout.conf / 'nginx.conf'} "
        f"-g {shlex.quote('daemon off;')}"
    )
    blocks.append(_program("nginx", nginx_cmd, layout, stopsignal="QUIT"))
    return "\n".join(blocks)


def render_all(settings: Settings, layout: Layout, *, instances: int, workers: int) -> None:
    s = settings.stack
    db = settings.db
    values = stack_secrets(layout)
    tag = layout.root.name
    _write(
        layout.supervisor_conf,
        _template("supervisord.conf.tmpl").substitute(
            run_dir=layout.run,
            log_dir=layout.logs,
            tag=tag,
            programs=supervisor_programs(settings, layout, instances, workers),
        ),
        0o600,
    )
    _write(
        layout.conf / "pgbouncer.ini",
        _template("pgbouncer.ini.tmpl").substitute(
            db_name=db.name,
            replica_db_name=db.replica_name,
            primary_port=s.primary_port,
            replica_port=s.replica_port,
            pgbouncer_port=s.pgbouncer_port,
            conf_dir=layout.conf,
        ),
    )
    userlist = (
        f'"{db.user}" "{db.password.get_secret_value()}"\n'
        f'"{PGBOUNCER_ADMIN}" "{scram_verifier(values["PGBOUNCER_ADMIN_PASSWORD"])}"\n'
    )
    # PgBouncer needs the app user's plain password to log in to Postgres on its behalf.
    _write(layout.conf / "userlist.txt", userlist, 0o600)
    chown_pg(layout.conf / "userlist.txt")
    _write(
        layout.conf / "redis.conf",
        _template("redis.conf.tmpl").substitute(port=s.redis_port, data_dir=layout.redis),
    )
    upstreams = "\n".join(
        f"        server 127.0.0.1:{port} max_fails=3 fail_timeout=3s;"
        for port in api_ports(settings, instances)
    )
    _write(
        layout.conf / "nginx.conf",
        _template("nginx.conf.tmpl").substitute(
            prefix=layout.nginx,
            log_dir=layout.logs,
            port=s.nginx_port,
            media_dir=layout.media,
            upstream_servers=upstreams,
        ),
    )


__all__ = ["PROJECT_ROOT", "render_all", "stack_secrets", "write_postgres_conf"]
