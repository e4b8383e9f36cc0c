"""The high-availability configs without a cluster: Patroni's timing and synchronous mode,
HAProxy's endpoints (checked by haproxy -c), and the callback that re-points PgBouncer."""

from __future__ import annotations

import shutil
import signal
import subprocess
from pathlib import Path

import pytest

from sichrplace.config import HaPorts, Settings, StackSettings
from sichrplace.stack.ha import config as ha_config
from sichrplace.stack.ha import nodes, routing
from sichrplace.stack.layout import Layout

SECRETS = {"SUPERUSER_PASSWORD": "s", "REPLICATION_PASSWORD": "r", "PATRONI_API_PASSWORD": "p"}


def _settings(tmp_path: Path) -> Settings:
    settings = Settings()
    settings.stack = StackSettings(data_dir=tmp_path, ha_base_port=45440)
    return settings


def test_patroni_fails_over_within_its_ttl_and_only_to_the_synchronous_standby(
    tmp_path: Path,
) -> None:
    settings, layout = _settings(tmp_path), Layout(tmp_path)
    conf = ha_config.patroni_config(settings, layout, 2, SECRETS)
    dcs = conf["bootstrap"]["dcs"]
    # Patroni's rule: a loop and two retries fit in the TTL.
    assert dcs["loop_wait"] + 2 * dcs["retry_timeout"] <= dcs["ttl"] <= 10
    assert dcs["synchronous_mode"] is True
    assert dcs["synchronous_mode_strict"] is False
    params = dcs["postgresql"]["parameters"]
    assert params["synchronous_commit"] == "local"  # `on` is asked for per transaction
    assert params["wal_log_hints"] == "on"  # pg_rewind
    assert dcs["postgresql"]["use_pg_rewind"] is True
    pg = conf["postgresql"]
    assert pg["listen"] == "127.0.0.1:45441"
    assert pg["data_dir"] == str(layout.pg_node(2))
    assert pg["custom_conf"] == str(ha_config.custom_conf_path(layout, 2))
    callback = str(routing.callback_path(layout, 2))
    assert pg["callbacks"] == {"on_start": callback, "on_role_change": callback}
    assert conf["etcd3"]["hosts"] == ["127.0.0.1:45460"]
    assert conf["restapi"]["listen"] == "127.0.0.1:45449"


@pytest.mark.skipif(shutil.which("haproxy") is None, reason="haproxy is not installed")
def test_haproxy_config_is_valid_and_routes_by_patronis_checks(tmp_path: Path) -> None:
    settings, layout = _settings(tmp_path), Layout(tmp_path)
    text = ha_config.haproxy_conf(settings, layout)
    path = tmp_path / "haproxy.cfg"
    path.write_text(text)
    check = subprocess.run(["haproxy", "-c", "-f", str(path)], capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr
    ha = HaPorts(45440)
    assert f"bind 127.0.0.1:{settings.stack.primary_port}" in text
    assert f"bind 127.0.0.1:{settings.stack.replica_port}" in text
    assert "uri /primary" in text
    assert "uri /replica" in text
    assert f"server node1 127.0.0.1:{ha.node(1)} check addr 127.0.0.1 port {ha.patroni(1)}" in text
    # Reads fall back to the leader, and leave it when a replica is back.
    assert "backup track leader/node2" in text
    assert "on-marked-up shutdown-backup-sessions" in text


def _run_callback(layout: Layout, index: int, role: str) -> None:
    script = routing.callback_path(layout, index)
    subprocess.run(["/bin/sh", str(script), "on_role_change", role, "sichrplace"], check=True)


def test_the_callback_points_pgbouncer_at_the_node_that_leads_or_follows(
    tmp_path: Path,
) -> None:
    settings, layout = _settings(tmp_path), Layout(tmp_path)
    layout.conf.mkdir(parents=True)
    layout.pg_socket.mkdir(parents=True)
    routing.write_callbacks(settings, layout)
    # A stand-in for PgBouncer: it must be told (SIGHUP) to re-read the files.
    sleeper = subprocess.Popen(
        ["python3", "-c", "import signal,time\nsignal.signal(signal.SIGHUP, lambda *a: exit(7))\n"
         "print('ready', flush=True)\ntime.sleep(30)"],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    layout.pgbouncer_pidfile.write_text(f"{sleeper.pid}\n")
    try:
        # Its handler is installed (a fixed wait was too short on a loaded machine).
        assert sleeper.stdout is not None
        assert sleeper.stdout.readline() == "ready\n"
        _run_callback(layout, 2, "primary")
        assert sleeper.wait(timeout=10) == 7
    finally:
        if sleeper.poll() is None:
            sleeper.send_signal(signal.SIGKILL)
        if sleeper.stdout is not None:
            sleeper.stdout.close()
    db = settings.db
    rw, ro = layout.pgbouncer_route("rw"), layout.pgbouncer_route("ro")
    assert rw.read_text() == f"{db.name} = host=127.0.0.1 port=45441 dbname={db.name}\n"
    assert ro.read_text() == f"{db.replica_name} = host=127.0.0.1 port=45440 dbname={db.name}\n"
    # The demoted node follows: the read line moves to it, the write line stays.
    layout.pgbouncer_pidfile.unlink()
    _run_callback(layout, 1, "replica")
    assert "port=45441" in rw.read_text()
    assert "port=45440" in ro.read_text()
    _run_callback(layout, 1, "primary")
    assert "port=45440" in rw.read_text()
    assert "port=45441" in ro.read_text()
    # Other roles (uninitialized, demoting) change nothing.
    _run_callback(layout, 2, "uninitialized")
    assert "port=45440" in rw.read_text()


def test_etcd_runs_ahead_of_the_workload_where_a_priority_may_be_raised(tmp_path: Path) -> None:
    settings, layout = _settings(tmp_path), Layout(tmp_path)
    as_root = ha_config.etcd_command(settings, layout, as_root=True)
    assert as_root.startswith(f"/usr/bin/nice -n {ha_config.ETCD_NICE} /usr/bin/etcd ")
    assert ha_config.ETCD_NICE < 0
    # Any other user may not raise a priority: etcd starts as it is.
    assert ha_config.etcd_command(settings, layout, as_root=False).startswith("/usr/bin/etcd ")


# `show stat` as HAProxy 2.6 prints it a moment after its start (columns cut after the last
# one read): the standby still counted UP by the write backends, on its way down.
SHOW_STAT = """# pxname,svname,qcur,status,check_status
primary,FRONTEND,,OPEN,
leader,node1,0,UP,L7OK
leader,node2,0,UP 1/2,L7STS
leader,BACKEND,0,UP,
leader-local,node1,0,UP,L7OK
leader-local,node2,0,DOWN,L7STS
leader-local,BACKEND,0,UP,
replicas,node1,0,UP,INI
replicas,node1-leader,0,UP,
"""


def test_show_stat_is_read_per_backend_and_server() -> None:
    states = nodes.parse_show_stat(SHOW_STAT)
    assert states["leader"] == {"node1": "UP", "node2": "UP 1/2"}
    assert states["leader-local"] == {"node1": "UP", "node2": "DOWN"}
    assert "primary" not in states
    assert nodes.parse_show_stat("") == {}


def test_writes_go_to_the_leader_alone_only_when_no_other_server_counts_up() -> None:
    states = nodes.parse_show_stat(SHOW_STAT)
    assert not nodes.leads_alone(states, "node1")  # node2 still UP 1/2 in `leader`
    states["leader"]["node2"] = "DOWN"
    assert nodes.leads_alone(states, "node1")
    assert not nodes.leads_alone(states, "node2")
    assert not nodes.leads_alone({"leader": states["leader"]}, "node1")  # a backend missing
