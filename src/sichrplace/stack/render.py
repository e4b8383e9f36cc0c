"""Render deploy/stack/*.tmpl into the data folder."""

from __future__ import annotations

import base64
import hashlib
import hmac
import math
import os
import secrets
import shlex
import sys
from pathlib import Path
from string import Template

from sichrplace.config import PROJECT_ROOT, ObservabilityPorts, Settings
from sichrplace.integrations.payments import webhook_url
from sichrplace.stack import faultproxy, observability, releases
from sichrplace.stack.edge import conf as edge_conf
from sichrplace.stack.ha import config as ha_config
from sichrplace.stack.layout import (
    NODES,
    PGBOUNCER_ADMIN,
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
    """Passwords the stack makes for itself once (replication, PgBouncer admin, the
    exporters' monitoring role, the superuser over TCP, Patroni's REST API)."""
    values: dict[str, str] = {}
    if layout.secrets_file.exists():
        for line in layout.secrets_file.read_text().splitlines():
            key, _, value = line.partition("=")
            if key:
                values[key] = value
    changed = False
    for key in (
        "REPLICATION_PASSWORD",
        "PGBOUNCER_ADMIN_PASSWORD",
        "MONITOR_PASSWORD",
        "SUPERUSER_PASSWORD",  # pg_rewind and Patroni reach the other node over TCP
        "PATRONI_API_PASSWORD",  # Patroni's REST API: switchover, failover, config
    ):
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


def write_node_configs(settings: Settings, layout: Layout, secrets: dict[str, str]) -> None:
    """Each node's Patroni YAML and the Postgres settings its postgresql.conf includes."""
    for index in NODES:
        for path, text in (
            (
                ha_config.custom_conf_path(layout, index),
                ha_config.postgres_conf(settings, layout, index),
            ),
            (
                ha_config.patroni_conf_path(layout, index),
                ha_config.patroni_yaml(settings, layout, index, secrets),
            ),
        ):
            _write(path, text, 0o600)
            chown_pg(path)
    _write(layout.conf / "haproxy.cfg", ha_config.haproxy_conf(settings, layout))


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
        "SICHRPLACE_LOG_ACCESS_LOG": str(settings.log.access_log).lower(),
    }


def otlp_port(settings: Settings) -> int:
    return ObservabilityPorts(settings.stack.exporters_base_port).otlp_receiver


def api_ports(settings: Settings, instances: int) -> list[int]:
    return [settings.stack.api_base_port + i for i in range(instances)]


def _program(name: str, command: str, layout: Layout, **opts: str) -> str:
    defaults = {
        "startsecs": "1",
        "stopsignal": "TERM",
        "stopwaitsecs": "30",
        "autorestart": "true",
        "extra": "",
    }
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
            "etcd",
            ha_config.etcd_command(settings, layout),
            layout,
            stopwaitsecs="20",
        )
    ]
    # Patroni runs its node's Postgres (and stops it on TERM). A node whose Patroni dies stays
    # down like a dead machine, the other node takes over; `stack start` brings it back as a
    # replica (a Postgres crash alone Patroni restarts by itself).
    blocks += [
        _program(
            ha_config.patroni_program(index),
            f"/usr/bin/patroni {ha_config.patroni_conf_path(layout, index)}",
            layout,
            stopsignal="TERM",
            stopwaitsecs="90",
            startsecs="2",
            autorestart="false",
            extra=f"{as_pg}\n{pg_env}",
        )
        for index in NODES
    ]
    blocks.append(
        _program(
            "haproxy",
            f"/usr/sbin/haproxy -W -db -f {layout.conf / 'haproxy.cfg'}",
            layout,
        )
    )
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
    # The fake payment providers (sichrplace.stack.fake_payments), webhooks through nginx.
    for provider, port in (
        ("stripe", settings.stack.stripe_fake_port),
        ("paypal", settings.stack.paypal_fake_port),
    ):
        hook = webhook_url(settings.app.public_base_url, provider)
        blocks.append(
            _program(
                f"{provider}-fake",
                f"{cli} fakes {provider} --host 127.0.0.1 --port {port} --webhook-url {hook}",
                layout,
                extra=env,
            )
        )
    blocks.append(
        _program(
            "otlp-receiver",
            f"{cli} traces receive --port {otlp_port(settings)}"
            f" --store {layout.root / 'traces' / 'spans.sqlite'}",
            layout,
            extra=env,
        )
    )
    # The chaos matrix's fault proxy; the APIs go through it only while armed (its marker).
    proxy_env = python_env(settings)
    proxy_env["SICHRPLACE_STACK_FAULTPROXY_BASE_PORT"] = str(settings.stack.faultproxy_base_port)
    blocks.append(
        _program("faultproxy", f"{cli} stack faultproxy serve", layout, extra=_env_line(proxy_env))
    )
    api_env = python_env(settings)
    if faultproxy.is_armed(layout):
        api_env |= faultproxy.proxied_env(settings)
    # Each API and worker on its release (stack/releases.py; none: the checkout).
    state = releases.load_state(layout)
    apis = [(f"api-{i}", port) for i, port in enumerate(api_ports(settings, instances), start=1)]
    if state.canary is not None:
        apis.append((releases.CANARY_PROGRAM, releases.canary_port(settings)))
    for name, port in apis:
        canary = state.canary if name == releases.CANARY_PROGRAM else None
        release = canary.release if canary else state.programs.get(name)
        blocks.append(
            _program(
                name,
                f"{cli} serve --host 127.0.0.1 --port {port}",
                layout,
                stopwaitsecs="40",
                extra=_env_line(api_env | releases.program_env(settings, layout, release)),
            )
        )
    ports = ObservabilityPorts(settings.stack.exporters_base_port)
    for i in range(1, workers + 1):
        command = f"{cli} jobs worker --metrics-port {ports.worker_metrics(i)}"
        release_env = releases.program_env(settings, layout, state.programs.get(f"worker-{i}"))
        worker_env = _env_line(python_env(settings) | release_env) if release_env else env
        blocks.append(_program(f"worker-{i}", command, layout, stopwaitsecs="60", extra=worker_env))
    nginx_cmd = (
        f"/usr/sbin/nginx -p {layout.nginx} -c {layout.conf / 'nginx.conf'} "
        f"-g {shlex.quote('daemon off;')}"
    )
    # nginx removes its stub_status socket when it exits, but not one a killed nginx left
    # behind, and would then never bind it again.
    status_socket = shlex.quote(str(observability.nginx_status_socket(layout)))
    nginx_cmd = f"/bin/sh -c {shlex.quote(f'rm -f {status_socket} && exec {nginx_cmd}')}"
    blocks.append(_program("nginx", nginx_cmd, layout, stopsignal="QUIT"))
    # The edge's logs: views it served from its cache, and its purge index (stack/edge).
    blocks.append(_program("edge", f"{cli} edge run", layout, stopwaitsecs="10", extra=env))
    for prog in observability.programs(settings, layout, cli):
        extra = _env_line(prog.environment) if prog.environment else ""
        blocks.append(_program(prog.name, prog.command, layout, extra=extra))
    return "\n".join(blocks)


# Debian's libnginx-mod-http-brotli-filter; without it the stack serves gzip alone.
BROTLI_MODULE = Path("/usr/lib/nginx/modules/ngx_http_brotli_filter_module.so")
# Debian's libnginx-mod-http-brotli-static: the web assets' .br files as they are.
BROTLI_STATIC_MODULE = Path("/usr/lib/nginx/modules/ngx_http_brotli_static_module.so")

# What a cross-origin script may send and read (CORS): the request headers the API reads, and
# the response headers beyond the CORS-safelisted ones a client needs.
CORS_METHODS = "GET, POST, PUT, PATCH, DELETE"
CORS_REQUEST_HEADERS = "Authorization, Content-Type, If-None-Match, X-Device-Token, X-Request-ID"
CORS_EXPOSED_HEADERS = "ETag, Location, Retry-After, WWW-Authenticate, X-Request-ID"
CORS_MAX_AGE_SECONDS = 600


def _cors_maps(origins: list[str]) -> str:
    """nginx maps for CORS: the allowed Origin echoed (else empty), and whether the request is
    a preflight from one (OPTIONS with Access-Control-Request-Method)."""
    if not origins:
        return ""
    allowed = "\n".join(f'        "{origin}" $http_origin;' for origin in origins)
    preflight_only = (
        ("cors_allow_methods", f'"{CORS_METHODS}"'),
        ("cors_allow_headers", f'"{CORS_REQUEST_HEADERS}"'),
        ("cors_max_age", str(CORS_MAX_AGE_SECONDS)),
    )
    lines = [
        "    # CORS (SICHRPLACE_EDGE_CORS_ALLOW_ORIGINS): an allowed Origin is echoed, any other",
        "    # gets no CORS header; a preflight from an allowed one is answered here (204).",
        "    map $http_origin $cors_origin {",
        '        default "";',
        allowed,
        "    }",
        "    map $cors_origin $cors_expose {",
        f'        default "{CORS_EXPOSED_HEADERS}";',
        '        "" "";',
        "    }",
        '    map "$request_method $cors_origin $http_access_control_request_method"'
        " $cors_preflight {",
        "        default 0;",
        '        "~^OPTIONS \\S+ \\S+$" 1;',
        "    }",
    ]
    for name, value in preflight_only:
        lines += [
            f"    map $cors_preflight ${name} {{",
            '        default "";',
            f"        1 {value};",
            "    }",
        ]
    return "\n".join(lines) + "\n"


def _cors_headers(origins: list[str]) -> str:
    if not origins:
        return "# CORS: no origin is allowed (SICHRPLACE_EDGE_CORS_ALLOW_ORIGINS), no CORS header."
    # No Access-Control-Allow-Credentials: the API authenticates with bearer tokens.
    return "\n".join(
        [
            "add_header Access-Control-Allow-Origin $cors_origin always;",
            "add_header Access-Control-Expose-Headers $cors_expose always;",
            "add_header Access-Control-Allow-Methods $cors_allow_methods always;",
            "add_header Access-Control-Allow-Headers $cors_allow_headers always;",
            "add_header Access-Control-Max-Age $cors_max_age always;",
            "# The answer depends on the Origin, whichever it is (shared caches must keep apart).",
            "add_header Vary Origin always;",
        ]
    )


def canary_weights(stable: int, percent: int) -> tuple[int, int]:
    """nginx weights (each stable instance's, the canary's) that give the canary `percent` %
    of the requests beside `stable` instances: w_c / (w_c + stable * w_s) = percent / 100,
    in the smallest integers."""
    if not 0 < percent < 100 or stable < 1:
        raise ValueError(f"a canary weight is 1-99 % beside at least one instance: {percent}")
    w_stable, w_canary = 100 - percent, percent * stable
    divisor = math.gcd(w_stable, w_canary)
    return w_stable // divisor, w_canary // divisor


def upstream_servers(settings: Settings, ports: list[int], state: releases.ReleaseState) -> str:
    """The `upstream api` servers: an instance being replaced is `down` (nginx sends it nothing
    new), and the canary with the weights that give it its share. Weighted least_conn picks
    the lowest in-flight/weight, so the share holds while instances answer alike; the
    release reports the real share from the access log."""
    health = "max_fails=3 fail_timeout=3s"
    servers = [(port, "") for port in ports]
    if state.canary is not None:
        w_stable, w_canary = canary_weights(len(ports), state.canary.weight)
        servers = [(port, f" weight={w_stable}") for port in ports]
        servers.append((releases.canary_port(settings), f" weight={w_canary}"))
    down = set(state.down)
    return "\n".join(
        f"        server 127.0.0.1:{port}{weight} {health}{' down' if port in down else ''};"
        for port, weight in servers
    )


def nginx_conf(settings: Settings, layout: Layout, upstream_ports: list[int]) -> str:
    """The load balancer's config; `edge_headers_conf` is the file it includes."""
    edge = settings.edge
    upstreams = upstream_servers(settings, upstream_ports, releases.load_state(layout))
    proxies = "\n".join(f"        {network} 1;" for network in edge.trusted_tls_proxies)
    preflight = (
        "        if ($cors_preflight) {\n            return 204;\n        }\n"
        if edge.cors_allow_origins
        else ""
    )
    return _template("nginx.conf.tmpl").substitute(
        prefix=layout.nginx,
        log_dir=layout.logs,
        conf_dir=layout.conf,
        port=settings.stack.nginx_port,
        media_dir=layout.media,
        upstream_servers=upstreams,
        brotli="" if BROTLI_MODULE.exists() else "# ",
        brotli_module=BROTLI_MODULE,
        brotli_static="" if BROTLI_STATIC_MODULE.exists() else "# ",
        brotli_static_module=BROTLI_STATIC_MODULE,
        static_dir=settings.web.static_dir,
        tls_proxies=proxies,
        cors_maps=_cors_maps(edge.cors_allow_origins),
        cors_preflight=preflight,
        status_socket=observability.nginx_status_socket(layout),
    )


def edge_headers_conf(settings: Settings) -> str:
    return _template("edge-headers.conf.tmpl").substitute(
        cors_headers=_cors_headers(settings.edge.cors_allow_origins)
    )


def write_nginx_conf(settings: Settings, layout: Layout, upstream_ports: list[int]) -> None:
    _write(layout.conf / "edge-headers.conf", edge_headers_conf(settings))
    edge_files = edge_conf.render(settings, layout)
    # nginx makes the cache folder itself (its workers' own) but not the folders above it.
    edge_conf.cache_dir(settings, layout).parent.mkdir(parents=True, exist_ok=True, mode=0o755)
    _write(layout.conf / "edge-cache.conf", edge_files.cache)
    _write(layout.conf / "edge-proxy.conf", edge_files.proxy)
    _write(layout.conf / "edge-locations.conf", edge_files.locations)
    _write(layout.conf / "nginx.conf", nginx_conf(settings, layout, upstream_ports))


def write_supervisor_conf(
    settings: Settings, layout: Layout, *, instances: int, workers: int
) -> None:
    """supervisord's config alone (the fault proxy's arm/disarm changes only the APIs')."""
    _write(
        layout.supervisor_conf,
        _template("supervisord.conf.tmpl").substitute(
            run_dir=layout.run,
            log_dir=layout.logs,
            tag=layout.root.name,
            programs=supervisor_programs(settings, layout, instances, workers),
        ),
        0o600,
    )


def render_all(settings: Settings, layout: Layout, *, instances: int, workers: int) -> None:
    s = settings.stack
    db = settings.db
    values = stack_secrets(layout)
    write_supervisor_conf(settings, layout, instances=instances, workers=workers)
    _write(
        layout.conf / "pgbouncer.ini",
        _template("pgbouncer.ini.tmpl").substitute(
            db_name=db.name,
            replica_db_name=db.replica_name,
            route_rw=layout.pgbouncer_route("rw"),
            route_ro=layout.pgbouncer_route("ro"),
            pidfile=layout.pgbouncer_pidfile,
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
    write_nginx_conf(settings, layout, api_ports(settings, instances))
    write_node_configs(settings, layout, values)
    observability.render_configs(
        settings,
        layout,
        values,
        api_ports=api_ports(settings, instances),
        workers=workers,
        write=_write,
    )


__all__ = [
    "PROJECT_ROOT",
    "nginx_conf",
    "render_all",
    "stack_secrets",
    "write_nginx_conf",
    "write_node_configs",
    "write_supervisor_conf",
]
