"""The stack's monitoring configs: Prometheus' accepted by promtool with both rule files and a
job per component, every program on the stack's own loopback ports, and the webhook store."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import yaml

from sichrplace.config import HaPorts, ObservabilityPorts, Settings
from sichrplace.stack import observability
from sichrplace.stack.layout import Layout
from sichrplace.stack.webhooks import WebhookStore
from tests.unit.ops.test_alert_rules import _tool


def _settings() -> Settings:
    return Settings()


def test_prometheus_config_passes_promtool_and_scrapes_every_component(tmp_path: Path) -> None:
    settings = _settings()
    layout = Layout(tmp_path)
    text = observability.prometheus_config(settings, layout, [58001, 58002], workers=2)
    conf = tmp_path / "prometheus.yml"
    conf.write_text(text)
    # check config also loads the rule files it names: both committed files, as they are.
    proc = subprocess.run(
        [_tool("promtool"), "check", "config", str(conf)], capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "platform.rules.yml" in proc.stdout
    assert "slo.rules.yml" in proc.stdout
    parsed: dict[str, Any] = yaml.safe_load(text)
    assert parsed["global"]["scrape_interval"] == parsed["global"]["evaluation_interval"] == "5s"
    jobs = {job["job_name"]: job for job in parsed["scrape_configs"]}
    assert set(jobs) == {
        "api", "worker", "nginx", "postgres", "patroni", "haproxy", "pgbouncer", "redis",
        "node", "blackbox", "prometheus", "alertmanager",
    }  # fmt: skip
    obs = ObservabilityPorts(settings.stack.exporters_base_port)

    def addresses(job: str) -> list[str]:
        return [t for group in jobs[job]["static_configs"] for t in group["targets"]]

    assert addresses("api") == ["127.0.0.1:58001", "127.0.0.1:58002"]
    assert addresses("worker") == [f"127.0.0.1:{obs.worker_metrics(i)}" for i in (1, 2)]
    assert addresses("postgres") == [
        f"127.0.0.1:{obs.postgres_exporter_primary}",
        f"127.0.0.1:{obs.postgres_exporter_replica}",
    ]
    ha = HaPorts(settings.stack.ha_base_port)
    # Patroni on each node, HAProxy's page: which node leads, where each endpoint routes.
    assert addresses("patroni") == [f"127.0.0.1:{ha.patroni(i)}" for i in (1, 2)]
    assert addresses("haproxy") == [f"127.0.0.1:{ha.haproxy_stats}"]
    assert addresses("blackbox") == [f"http://127.0.0.1:{settings.stack.nginx_port}/readyz"]
    assert jobs["blackbox"]["relabel_configs"][-1]["replacement"] == (
        f"127.0.0.1:{obs.blackbox_exporter}"
    )
    am = parsed["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"]
    assert am == [f"127.0.0.1:{settings.stack.alertmanager_port}"]


def test_programs_listen_on_the_stacks_loopback_ports_only() -> None:
    settings = _settings()
    progs = observability.programs(settings, Layout(Path("/data")), Path("/venv/sichrplace"))
    obs = ObservabilityPorts(settings.stack.exporters_base_port)
    allowed = {
        settings.stack.prometheus_port,
        settings.stack.alertmanager_port,
        obs.node_exporter,
        obs.nginx_exporter,
        obs.blackbox_exporter,
        obs.redis_exporter,
        obs.pgbouncer_exporter,
        obs.postgres_exporter_primary,
        obs.postgres_exporter_replica,
        obs.webhook_receiver,
    }
    assert {p.port for p in progs} == allowed
    for prog in progs:
        listens = (f"127.0.0.1:{prog.port}", f"--host 127.0.0.1 --port {prog.port}")
        assert any(s in prog.command for s in listens), prog.command
    by_name = {p.name: p for p in progs}
    # Alertmanager's gossip would listen on 0.0.0.0:9094 unless switched off.
    assert by_name["alertmanager"].command.endswith("--cluster.listen-address=")
    assert "/data/prometheus" in by_name["prometheus"].command
    assert list(by_name)[-1] == "prometheus"  # its first scrape finds the exporters up


def test_the_rendered_blackbox_config_is_valid(tmp_path: Path) -> None:
    written: dict[Path, str] = {}

    def write(path: Path, text: str, mode: int = 0o644) -> None:
        written[path] = text

    secrets = {"MONITOR_PASSWORD": "m", "PGBOUNCER_ADMIN_PASSWORD": "p"}
    layout = Layout(tmp_path)
    observability.render_configs(
        _settings(), layout, secrets, api_ports=[58001], workers=1, write=write
    )
    blackbox = tmp_path / "blackbox.yml"
    blackbox.write_text(written[layout.conf / "blackbox.yml"])
    proc = subprocess.run(
        [_tool("prometheus-blackbox-exporter"), f"--config.file={blackbox}", "--config.check"],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert written[layout.conf / "pgpass"].endswith(":pgbouncer:pgbouncer:p\n")
    assert "http://127.0.0.1:" in written[layout.conf / "alertmanager.yml"]


def test_webhook_store_appends_and_filters_by_path(tmp_path: Path) -> None:
    store = WebhookStore(tmp_path / "hooks.jsonl")
    assert store.entries() == []
    store.append("/slack/page", {"text": "a"})
    store.append("/slack/pages-not", {"text": "b"})
    store.append("/teams/page", {"alerts": []})
    assert [e["body"] for e in store.entries("/slack/page")] == [{"text": "a"}]
    assert [e["path"] for e in store.entries("/slack")] == ["/slack/page", "/slack/pages-not"]
    assert len(store.entries("/")) == 3
    assert len((tmp_path / "hooks.jsonl").read_text().splitlines()) == 3
