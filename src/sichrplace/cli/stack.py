"""`sichrplace stack`: the local production-like stack under supervisord."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import typer

from sichrplace.cli import stack_faultproxy, stack_release
from sichrplace.config import Settings, get_settings
from sichrplace.stack import faultproxy, observability, postgres, releases, supervisor
from sichrplace.stack import ports as stack_ports
from sichrplace.stack.backup import pgbackrest
from sichrplace.stack.ha import config as ha_config
from sichrplace.stack.ha import nodes as ha_nodes
from sichrplace.stack.ha import patroni as ha_patroni
from sichrplace.stack.layout import NODES, Layout, ensure_dirs, layout_for
from sichrplace.stack.logs import rotate_nginx_logs
from sichrplace.stack.render import api_ports, otlp_port, python_env, render_all
from sichrplace.web import assets

app = typer.Typer(no_args_is_help=True, help="The local production-like stack.")
app.add_typer(stack_faultproxy.app, name="faultproxy")
app.command("release")(stack_release.release)
app.command("canary")(stack_release.canary)

# Stopped last by `down`, in their own order (stack.ha.nodes.stop_cluster for Postgres).
CORE = ("etcd", "haproxy", *ha_patroni.node_programs(), "pgbouncer", "redis")


def _ctx() -> tuple[Settings, Layout]:
    settings = get_settings()
    return settings, layout_for(settings)


def _say(msg: str) -> None:
    typer.echo(f"stack: {msg}")


def _wait(what: str, probe: Callable[[], bool], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(Exception):  # not up yet
            if probe():
                return
        time.sleep(0.2)
    raise typer.Exit(
        _fail(f"{what} not healthy after {timeout:.0f}s (see `sichrplace stack logs`)")
    )


def _fail(msg: str) -> int:
    typer.echo(f"stack: ERROR: {msg}", err=True)
    return 1


def _port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.3)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _http_ok(url: str, body_contains: str | None = None) -> bool:
    resp = httpx.get(url, timeout=2)
    return resp.status_code == 200 and (body_contains is None or body_contains in resp.text)


def _run_cli(settings: Settings, *args: str) -> None:
    env = {**os.environ, **python_env(settings)}
    cli = str(Path(sys.executable).parent / "sichrplace")
    subprocess.run([cli, *args], env=env, check=True)


def _build_web_assets(settings: Settings) -> None:
    """The pages' assets where nginx serves them (nothing to do when they are built)."""
    if not (settings.app.node_modules_dir / "htmx.org").exists():
        _say("web assets not built: node_modules lacks them (scripts/bootstrap.sh runs npm ci)")
        return
    assets.build(settings.app.node_modules_dir, settings.web.static_dir)


@app.command()
def up(
    api: int = typer.Option(
        None, "--api", help="API instances (default SICHRPLACE_STACK_API_INSTANCES=2)"
    ),
    workers: int = typer.Option(None, help="job workers (default 1)"),
    seed: str = typer.Option(None, help="load a data set: demo"),
) -> None:
    """Bring the stack up (idempotent), wait for health, run migrations, print the URL."""
    settings, layout = _ctx()
    s = settings.stack
    instances = api or s.api_instances
    n_workers = workers or s.workers
    ensure_dirs(layout)
    not_reserved = stack_ports.reserve(settings)
    if not_reserved:
        _say(f"warning: {not_reserved}")
    render_all(settings, layout, instances=instances, workers=n_workers)
    _build_web_assets(settings)
    supervisor.ensure_supervisord(layout)  # stops programs no longer in the config
    adopted = postgres.adopt_old_layout(layout)
    if adopted:
        _say("moved pg/primary and pg/replica to pg/node1 and pg/node2 for Patroni")
    supervisor.start(
        layout, "redis", "smtp", "otlp-receiver", "stripe-fake", "paypal-fake", "faultproxy"
    )
    leader = ha_nodes.start_cluster(settings, layout, adopted=adopted)
    _say(f"Postgres: {leader} leads (Patroni)")
    postgres.wait_postgres(settings, layout, s.primary_port)
    postgres.bootstrap_primary(settings, layout)
    pgbackrest.ensure_stanza(settings, layout)  # WAL archiving and backups
    ha_nodes.settle(settings, layout, adopted=adopted)
    ha_nodes.point_pgbouncer(settings, layout)
    supervisor.start(layout, "pgbouncer")
    postgres.wait_postgres(settings, layout, s.replica_port)
    _wait("pgbouncer", lambda: _port_open(s.pgbouncer_port))
    _wait("redis", lambda: _port_open(s.redis_port))
    _run_cli(settings, "db", "upgrade")
    if seed:
        _run_cli(settings, "seed", seed)
    names = [f"api-{i}" for i in range(1, instances + 1)]
    names += [f"worker-{i}" for i in range(1, n_workers + 1)]
    supervisor.start(layout, *names, "nginx", "edge")
    for port in api_ports(settings, instances):
        health = f"http://127.0.0.1:{port}/healthz"
        _wait(f"api on {port}", lambda health=health: _http_ok(health))  # type: ignore[misc]
    url = f"http://127.0.0.1:{s.nginx_port}"
    _wait("nginx /readyz", lambda: _http_ok(f"{url}/readyz", '"ok"'))
    cli = Path(sys.executable).parent / "sichrplace"
    monitoring = observability.programs(settings, layout, cli)
    supervisor.start_together(layout, *(p.name for p in monitoring))
    for prog in monitoring:
        _wait(prog.name, lambda url=prog.health_url: _http_ok(url))  # type: ignore[misc]
    _wait("every program running", lambda: _all_running(layout))
    _say(f"up: {url}  (data: {layout.root})")


def _all_running(layout: Layout) -> bool:
    return all(p.state == "RUNNING" for p in supervisor.states(layout))


@app.command()
def down() -> None:
    """Stop every process of the stack (APIs and workers drain first)."""
    settings, layout = _ctx()
    if supervisor.supervisord_pid(layout) is None:
        _say("not running")
        return
    supervisor.stop(layout, "nginx")
    running = [p.name for p in supervisor.states(layout) if p.name not in CORE]
    if running:
        supervisor.stop(layout, *running)
    supervisor.stop(layout, "pgbouncer", "redis")
    ha_nodes.stop_cluster(layout, settings)
    supervisor.shutdown(layout)
    ports = stack_ports.stack_ports(settings)
    still = [p for p in ports if _port_open(p)]
    if still:
        raise typer.Exit(_fail(f"ports still listening after down: {still}"))
    _say("down")


@app.command()
def status() -> None:
    """Each process, its state and port, where data and logs live."""
    settings, layout = _ctx()
    s = settings.stack
    typer.echo(f"data folder: {layout.root}")
    typer.echo(f"logs:        {layout.logs}")
    progs = supervisor.states(layout)
    if not progs:
        typer.echo("supervisord: not running")
        raise typer.Exit(3)
    ha = ha_config.ports(settings)
    ports = {
        "etcd": ha.etcd_client,
        "haproxy": s.primary_port,
        **{ha_config.patroni_program(i): ha.node(i) for i in NODES},
        "pgbouncer": s.pgbouncer_port,
        "redis": s.redis_port,
        "nginx": s.nginx_port,
        "smtp": s.smtp_port,
        "otlp-receiver": otlp_port(settings),
        "stripe-fake": s.stripe_fake_port,
        "paypal-fake": s.paypal_fake_port,
        "faultproxy": faultproxy.FaultProxyPorts(s.faultproxy_base_port).control,
    }
    for i, port in enumerate(api_ports(settings, stack_ports.MAX_API_INSTANCES), start=1):
        ports[f"api-{i}"] = port
    ports[releases.CANARY_PROGRAM] = releases.canary_port(settings)
    ports.update(observability.program_ports(settings))
    # The version of each API and worker (`stack release --status` asks the instances too).
    state = releases.load_state(layout)
    running = dict(state.programs)
    if state.canary is not None:
        running[releases.CANARY_PROGRAM] = state.canary.release
    for prog in progs:
        listen = f"127.0.0.1:{ports[prog.name]}" if prog.name in ports else "-"
        version = ""
        if prog.name.startswith(("api-", "worker-")):
            version = f"  [{releases.describe(layout, running.get(prog.name))}]"
        typer.echo(f"{prog.name:18} {prog.state:9} {listen:16} {prog.description}{version}")
    found = ha_patroni.cluster(settings)
    if found is None:
        typer.echo("postgres: no Patroni node answers")
        return
    typer.echo(f"postgres: write :{s.primary_port}, read :{s.replica_port} (HAProxy)")
    for m in found.members:
        lag = "" if m.lag_bytes is None else f" lag {m.lag_bytes} B"
        typer.echo(f"  {m.name:6} {m.role:13} {m.state:10} timeline {m.timeline}{lag}")


@app.command()
def logs(
    program: str = typer.Argument(None, help="program name; default: all"),
    lines: int = typer.Option(50, "-n"),
    follow: bool = typer.Option(False, "-f"),
) -> None:
    """Show (or follow) log files."""
    _, layout = _ctx()
    files = sorted(layout.logs.glob(f"{program}.log" if program else "*.log"))
    if not files:
        raise typer.Exit(_fail(f"no logs in {layout.logs}"))
    cmd = ["tail", "-n", str(lines), *(["-F"] if follow else []), *map(str, files)]
    os.execvp("tail", cmd)  # noqa: S606 - hand the terminal to tail


@app.command("rotate-logs")
def rotate_logs(
    keep: int = typer.Option(5, help="old generations kept per file (the oldest is dropped)"),
) -> None:
    """Rotate nginx's own log files (access and error) and have nginx reopen them."""
    _, layout = _ctx()
    rotated = rotate_nginx_logs(layout.logs, keep)
    if rotated:
        supervisor.ctl(layout, "signal", "USR1", "nginx", check=True)
    _say(f"rotated: {', '.join(rotated) or 'nothing'}")


def _control(action: str, programs: list[str]) -> None:
    _, layout = _ctx()
    typer.echo(supervisor.ctl(layout, action, *programs), nl=False)


@app.command()
def start(programs: list[str]) -> None:
    """Start programs (e.g. patroni-node2)."""
    _control("start", programs)


@app.command()
def stop(programs: list[str]) -> None:
    """Stop programs gracefully."""
    _control("stop", programs)


@app.command()
def restart(programs: list[str]) -> None:
    """Restart programs (e.g. api-1 worker-1 to load new code)."""
    _control("restart", programs)


@app.command()
def kill(program: str, signal: str = typer.Option("KILL")) -> None:
    """Send a signal to one program (chaos): the supervisor restarts it."""
    _control("signal", [signal, program])


@app.command()
def switchover(
    to: str = typer.Option(None, "--to", help="the node to lead (default: the sync standby)"),
) -> None:
    """Hand the leader role to the standby, planned: PgBouncer pauses around it, clients wait
    a moment instead of failing."""
    settings, layout = _ctx()
    try:
        old, new, seconds = ha_patroni.switchover(settings, layout, to)
    except (ha_patroni.HaError, ValueError) as exc:
        raise typer.Exit(_fail(str(exc))) from exc
    _say(f"switchover: {new} leads (was {old}), {seconds:.1f}s; {old} follows as a replica")


@app.command()
def failover(
    to: str = typer.Option(None, "--to", help="the node to promote (default: the sync standby)"),
) -> None:
    """Promote a standby now, without waiting for the leader (for a leader that is unhealthy)."""
    settings, layout = _ctx()
    try:
        old, new, seconds = ha_patroni.failover(settings, layout, to)
    except (ha_patroni.HaError, ValueError) as exc:
        raise typer.Exit(_fail(str(exc))) from exc
    _say(f"failover: {new} leads (was {old}), writable after {seconds:.1f}s")


@app.command()
def crash(node: str = typer.Argument(..., help="node1 or node2")) -> None:
    """SIGKILL a node's Patroni and Postgres (chaos): the other node takes over after the
    leader key expires; `stack start patroni-<node>` brings it back as a replica."""
    settings, layout = _ctx()
    try:
        patroni_pid, postmaster = ha_patroni.crash(settings, layout, node)
    except (ha_patroni.HaError, ValueError) as exc:
        raise typer.Exit(_fail(str(exc))) from exc
    _say(f"crashed {node}: killed Patroni {patroni_pid} and Postgres {postmaster or '-'}")
