"""The stack's monitoring: Prometheus, Alertmanager, the exporters and the local webhook
receiver standing in for Slack and Teams. Their configs are rendered into the data folder;
their programs run under the stack's supervisord, as the invoking user, on the stack's ports
(`ObservabilityPorts`), so Debian's own service copies of the same packages never matter."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from string import Template
from typing import Protocol

from sichrplace.config import PROJECT_ROOT, ObservabilityPorts, Settings
from sichrplace.ops.alerting import Receivers, render_alertmanager
from sichrplace.stack import releases
from sichrplace.stack.ha import config as ha_config
from sichrplace.stack.layout import MONITOR_USER, NODES, PGBOUNCER_ADMIN, TEMPLATES, Layout

RULES_DIR = PROJECT_ROOT / "deploy" / "prometheus" / "rules"
PGBOUNCER_EXPORTER = TEMPLATES / "pgbouncer_exporter.py"
POSTGRES_EXPORTER_QUERIES = (
    PROJECT_ROOT / "deploy" / "prometheus" / "postgres-exporter" / "queries.yaml"
)
# Short, so a test sees a scrape, a rule result or an alert within seconds (production-like
# values are in docs/operations.md and the rendered prometheus.yml).
SCRAPE_INTERVAL = "5s"
SCRAPE_TIMEOUT = "4s"


class ConfigWriter(Protocol):
    """How render.py writes a file: atomically, with a mode."""

    def __call__(self, path: Path, text: str, mode: int = 0o644) -> None: ...


@dataclass(frozen=True)
class Program:
    """One observability program: its supervisor name, command, port and health URL."""

    name: str
    command: str
    port: int
    health_path: str
    environment: dict[str, str] = field(default_factory=dict)

    @property
    def health_url(self) -> str:
        return f"http://127.0.0.1:{self.port}{self.health_path}"


def ports_of(settings: Settings) -> ObservabilityPorts:
    return ObservabilityPorts(settings.stack.exporters_base_port)


def nginx_status_socket(layout: Layout) -> Path:
    """nginx's stub_status listener: a unix socket, unreachable from the public entry."""
    return layout.run / "nginx-status.sock"


def _password_files(layout: Layout) -> tuple[Path, Path]:
    return layout.conf / "monitor.password", layout.conf / "pgpass"


def programs(settings: Settings, layout: Layout, cli: Path) -> list[Program]:
    """In start order: the receiver before Alertmanager, Prometheus last (its first scrape
    then finds every exporter up)."""
    s = settings.stack
    obs = ports_of(settings)
    monitor_password, pgpass = _password_files(layout)
    conf = layout.conf
    listen = "--web.listen-address=127.0.0.1:"
    out = [
        Program(
            "webhook-receiver",
            # `sichrplace ops webhook-receiver` without loading the application first.
            f"{cli.parent / 'python'} -m sichrplace.stack.webhooks --host 127.0.0.1"
            f" --port {obs.webhook_receiver} --file {layout.webhooks_file}",
            obs.webhook_receiver,
            "/",
        ),
        Program(
            "alertmanager",
            f"/usr/bin/prometheus-alertmanager --config.file={conf / 'alertmanager.yml'}"
            f" --storage.path={layout.alertmanager} {listen}{s.alertmanager_port}"
            # No gossip: one local instance (the default would listen on 0.0.0.0:9094).
            " --cluster.listen-address=",
            s.alertmanager_port,
            "/-/ready",
        ),
        Program(
            "node-exporter",
            # textfile: Debian's default folder belongs to its own service copy.
            f"/usr/bin/prometheus-node-exporter {listen}{obs.node_exporter}"
            " --no-collector.textfile",
            obs.node_exporter,
            "/metrics",
        ),
        Program(
            "nginx-exporter",
            f"/usr/bin/prometheus-nginx-exporter -web.listen-address=127.0.0.1:{obs.nginx_exporter}"
            f" -nginx.scrape-uri=unix:{nginx_status_socket(layout)}:/stub_status"
            " -nginx.retries=30 -nginx.retry-interval=1s",
            obs.nginx_exporter,
            "/metrics",
        ),
        Program(
            "blackbox-exporter",
            f"/usr/bin/prometheus-blackbox-exporter --config.file={conf / 'blackbox.yml'}"
            f" {listen}{obs.blackbox_exporter}",
            obs.blackbox_exporter,
            "/-/healthy",
        ),
        Program(
            "redis-exporter",
            f"/usr/bin/prometheus-redis-exporter -redis.addr=redis://127.0.0.1:{s.redis_port}"
            f" -web.listen-address=127.0.0.1:{obs.redis_exporter}",
            obs.redis_exporter,
            "/metrics",
        ),
        Program(
            "pgbouncer-exporter",
            # Debian's exporter is Python: its own python3, not the project's virtualenv.
            f"/usr/bin/python3 {PGBOUNCER_EXPORTER} --host 127.0.0.1"
            f" --port {obs.pgbouncer_exporter} --pgbouncer-host 127.0.0.1"
            f" --pgbouncer-port {s.pgbouncer_port} --pgbouncer-user {PGBOUNCER_ADMIN}",
            obs.pgbouncer_exporter,
            "/metrics",
            {"PGPASSFILE": str(pgpass)},
        ),
    ]
    for role, pg_port, exporter_port in (
        ("primary", s.primary_port, obs.postgres_exporter_primary),
        ("replica", s.replica_port, obs.postgres_exporter_replica),
    ):
        out.append(
            Program(
                f"postgres-exporter-{role}",
                f"/usr/bin/prometheus-postgres-exporter {listen}{exporter_port}"
                f" --extend.query-path={POSTGRES_EXPORTER_QUERIES}",
                exporter_port,
                "/metrics",
                {
                    "DATA_SOURCE_URI": f"127.0.0.1:{pg_port}/{settings.db.name}?sslmode=disable",
                    "DATA_SOURCE_USER": MONITOR_USER,
                    "DATA_SOURCE_PASS_FILE": str(monitor_password),
                },
            )
        )
    out.append(
        Program(
            "prometheus",
            f"/usr/bin/prometheus --config.file={conf / 'prometheus.yml'}"
            f" --storage.tsdb.path={layout.prometheus} --storage.tsdb.retention.time=7d"
            f" {listen}{s.prometheus_port} --web.enable-lifecycle",
            s.prometheus_port,
            "/-/ready",
        )
    )
    return out


def program_ports(settings: Settings) -> dict[str, int]:
    """Every observability program's port, by program name (for status and down)."""
    return {p.name: p.port for p in programs(settings, Layout(Path("/")), Path("sichrplace"))}


def all_ports(settings: Settings, max_workers: int = 16) -> list[int]:
    """Every port the stack's observability may listen on, including the workers' /metrics
    and the OTLP receiver: `stack down` checks that none still listens."""
    obs = ports_of(settings)
    workers = [obs.worker_metrics(i) for i in range(1, max_workers + 1)]
    return [*program_ports(settings).values(), obs.otlp_receiver, *workers]


def _static(targets: list[tuple[str, int]]) -> str:
    """static_configs entries, one per target, labelled with the program it watches."""
    return "\n".join(
        f"      - targets: ['127.0.0.1:{port}']\n        labels: {{program: {name}}}"
        for name, port in targets
    )


def _api_targets(settings: Settings, layout: Layout, api_ports: list[int]) -> str:
    """The API instances, each labelled with its track: `stable`, or `canary` for the one a
    canary release added (the comparison groups by it, as on Kubernetes)."""
    targets = [(f"api-{i}", port, "stable") for i, port in enumerate(api_ports, start=1)]
    if releases.load_state(layout).canary is not None:
        targets.append((releases.CANARY_PROGRAM, releases.canary_port(settings), "canary"))
    return "\n".join(
        f"      - targets: ['127.0.0.1:{port}']\n"
        f"        labels: {{program: {name}, track: {track}}}"
        for name, port, track in targets
    )


def prometheus_config(
    settings: Settings, layout: Layout, api_ports: list[int], workers: int
) -> str:
    s = settings.stack
    obs = ports_of(settings)
    ha = ha_config.ports(settings)
    return Template((TEMPLATES / "prometheus.yml.tmpl").read_text()).substitute(
        interval=SCRAPE_INTERVAL,
        timeout=SCRAPE_TIMEOUT,
        tag=layout.root.name,
        rules_dir=RULES_DIR,
        alertmanager_port=s.alertmanager_port,
        nginx_port=s.nginx_port,
        blackbox_port=obs.blackbox_exporter,
        api_targets=_api_targets(settings, layout, api_ports),
        worker_targets=_static(
            [(f"worker-{i}", obs.worker_metrics(i)) for i in range(1, workers + 1)]
        ),
        nginx_targets=_static([("nginx", obs.nginx_exporter)]),
        postgres_targets=_static(
            [
                ("postgres-primary", obs.postgres_exporter_primary),
                ("postgres-replica", obs.postgres_exporter_replica),
            ]
        ),
        patroni_targets=_static([(ha_config.patroni_program(i), ha.patroni(i)) for i in NODES]),
        haproxy_targets=_static([("haproxy", ha.haproxy_stats)]),
        pgbouncer_targets=_static([("pgbouncer", obs.pgbouncer_exporter)]),
        redis_targets=_static([("redis", obs.redis_exporter)]),
        node_targets=_static([("node", obs.node_exporter)]),
        prometheus_targets=_static([("prometheus", s.prometheus_port)]),
        alertmanager_targets=_static([("alertmanager", s.alertmanager_port)]),
    )


def render_configs(
    settings: Settings,
    layout: Layout,
    secrets: dict[str, str],
    *,
    api_ports: list[int],
    workers: int,
    write: ConfigWriter,
) -> None:
    """prometheus.yml, blackbox.yml, alertmanager.yml and the exporters' password files."""
    obs = ports_of(settings)
    write(layout.conf / "prometheus.yml", prometheus_config(settings, layout, api_ports, workers))
    write(
        layout.conf / "blackbox.yml",
        Template((TEMPLATES / "blackbox.yml.tmpl").read_text()).substitute(timeout="3s"),
    )
    receivers = Receivers.local(f"http://127.0.0.1:{obs.webhook_receiver}")
    write(layout.conf / "alertmanager.yml", render_alertmanager(receivers, runbook_base=""))
    monitor_password, pgpass = _password_files(layout)
    write(monitor_password, secrets["MONITOR_PASSWORD"], 0o600)
    # libpq's password file for the PgBouncer exporter (host:port:database:user:password).
    admin = secrets["PGBOUNCER_ADMIN_PASSWORD"]
    line = f"127.0.0.1:{settings.stack.pgbouncer_port}:pgbouncer:{PGBOUNCER_ADMIN}:{admin}\n"
    write(pgpass, line, 0o600)
