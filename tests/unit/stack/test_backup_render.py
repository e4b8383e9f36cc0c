"""Backups without a server: the rendered Postgres and pgBackRest configs, what `pgbackrest
info` says, the drill's verdict on the markers, and the metrics read from status.json."""

from __future__ import annotations

import itertools
import json
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, generate_latest

from sichrplace.config import BackupSettings, HaPorts, Settings
from sichrplace.platform.jobs import job_app
from sichrplace.stack.backup import drill, metrics, pgbackrest, status, tasks
from sichrplace.stack.backup.repository import Marker
from sichrplace.stack.ha import config as ha_config
from sichrplace.stack.layout import Layout

SECRETS = {"SUPERUSER_PASSWORD": "s", "REPLICATION_PASSWORD": "r", "PATRONI_API_PASSWORD": "p"}
T0 = datetime(2026, 12, 6, 21, 0, tzinfo=UTC)


def _settings(**backup: object) -> Settings:
    settings = Settings()
    settings.backup = BackupSettings(**backup)  # type: ignore[arg-type]
    return settings


def _conf_lines(text: str) -> dict[str, str]:
    lines = {}
    for line in text.splitlines():
        key, sep, value = line.partition(" = ")
        if sep and not line.startswith("#"):
            lines[key.strip()] = value.strip()
    return lines


@pytest.mark.parametrize("index", [1, 2])
def test_each_node_archives_through_pgbackrest_with_its_own_data_dir(
    tmp_path: Path, index: int
) -> None:
    settings, layout = _settings(), Layout(tmp_path)
    conf = _conf_lines(ha_config.postgres_conf(settings, layout, index))
    prefix = (
        f"{pgbackrest.pgbackrest_bin()} --config={layout.conf / 'pgbackrest.conf'}"
        f" --stanza=sichrplace --pg1-path={layout.pg_node(index)}"
    )
    assert conf["archive_mode"] == "on"
    assert conf["archive_command"] == f"'{prefix} archive-push %p'"
    # A standby that cannot stream reads the archive (Patroni writes its recovery settings).
    recovery = ha_config.patroni_config(settings, layout, index, SECRETS)["postgresql"]
    assert recovery["recovery_conf"]["restore_command"] == f'{prefix} archive-get %f "%p"'
    # RPO: a commit is archived within archive_timeout (+ the push), inside the 60 s target.
    assert conf["archive_timeout"] == "30s"
    assert conf["max_slot_wal_keep_size"] == "8192MB"
    assert "cp %p" not in ha_config.postgres_conf(settings, layout, index)


def test_archive_settings_follow_the_backup_settings(tmp_path: Path) -> None:
    settings = _settings(archive_timeout_seconds=15, max_slot_wal_keep_size_mb=2048, stanza="b2")
    conf = _conf_lines(ha_config.postgres_conf(settings, Layout(tmp_path), 1))
    assert conf["archive_timeout"] == "15s"
    assert conf["max_slot_wal_keep_size"] == "2048MB"
    assert "--stanza=b2 " in conf["archive_command"]


def test_archive_timeout_cannot_exceed_the_rpo_target() -> None:
    with pytest.raises(ValueError, match="less than or equal to 60"):
        BackupSettings(archive_timeout_seconds=120)


def test_pgbackrest_conf_has_the_repository_retention_and_both_nodes(tmp_path: Path) -> None:
    settings = _settings(retention_full=3, retention_diff=5, retention_archive_full=2)
    layout = Layout(tmp_path)
    text = pgbackrest.config_text(settings, layout)
    lines = dict(line.split("=", 1) for line in text.splitlines() if "=" in line and line[0] != "#")
    assert lines["repo1-path"] == str(tmp_path / "backup" / "repo")
    assert lines["repo1-retention-full"] == "3"
    assert lines["repo1-retention-diff"] == "5"
    assert lines["repo1-retention-archive-type"] == "full"
    assert lines["repo1-retention-archive"] == "2"
    # Both nodes: pgBackRest backs up from whichever is the primary at the time.
    ha = HaPorts(settings.stack.ha_base_port)
    for index in (1, 2):
        assert lines[f"pg{index}-path"] == str(layout.pg_node(index))
        assert lines[f"pg{index}-port"] == str(ha.node(index))
        assert lines[f"pg{index}-socket-path"] == str(layout.pg_socket)
    assert lines["lock-path"] == str(layout.run / "pgbackrest")  # two stacks, two lock folders
    assert "[sichrplace]" in text


def test_a_path_with_a_quote_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="quotes"):
        pgbackrest.postgres_settings(_settings(), Layout(tmp_path), tmp_path / "it's")


INFO = [
    {
        "name": "sichrplace",
        "status": {"code": 0, "message": "ok"},
        "archive": [
            {"id": "15-1", "min": "000000010000000000000003", "max": "00000001000000000000000A"}
        ],
        "backup": [
            {
                "label": "20261206-210000F",
                "type": "full",
                "timestamp": {"start": 1796590800, "stop": 1796590890},
                "info": {
                    "size": 5_000_000_000,
                    "delta": 5_000_000_000,
                    "repository": {"size": 900_000_000, "delta": 900_000_000},
                },
                "archive": {
                    "start": "000000010000000000000004",
                    "stop": "000000010000000000000004",
                },
                "prior": None,
            },
            {
                "label": "20261206-210000F_20261207-010700D",
                "type": "diff",
                "timestamp": {"start": 1796605620, "stop": 1796605650},
                "info": {
                    "size": 5_100_000_000,
                    "delta": 40_000_000,
                    "repository": {"delta": 8_000_000},
                },
                "archive": {
                    "start": "000000010000000000000009",
                    "stop": "000000010000000000000009",
                },
                "prior": "20261206-210000F",
            },
        ],
    }
]


def test_info_is_parsed_oldest_first() -> None:
    repo = pgbackrest.parse_info(json.dumps(INFO), "sichrplace")
    assert repo.status_code == 0
    assert [b.type for b in repo.backups] == ["full", "diff"]
    full, diff = repo.backups
    assert full.duration_seconds == 90
    assert full.repo_delta_bytes == 900_000_000
    assert diff.repo_size_bytes == 0  # not reported: 0, not an error
    assert diff.prior == full.label
    assert repo.latest == diff
    assert (repo.wal_min, repo.wal_max) == ("000000010000000000000003", "00000001000000000000000A")
    assert pgbackrest.parse_info(json.dumps(INFO), "other").backups == []


def _markers(n: int = 4) -> list[Marker]:
    return [
        Marker(
            id=i + 1,
            written_at=T0 + timedelta(seconds=i),
            acked_at=T0 + timedelta(seconds=i, milliseconds=5),
            wal_file="000000010000000000000010",
        )
        for i in range(n)
    ]


def test_the_target_falls_between_an_acknowledgement_and_the_next_insert() -> None:
    markers = _markers()
    for seed in range(50):
        target = drill.choose_target(markers, random.Random(seed))
        assert any(a.acked_at < target < b.written_at for a, b in itertools.pairwise(markers))


def test_all_markers_before_the_target_present_is_a_zero_rpo() -> None:
    markers = _markers()
    target = T0 + timedelta(seconds=1, milliseconds=500)
    verdict = drill.evaluate(markers, {1, 2}, target)
    assert (verdict.missing, verdict.unexpected, verdict.rpo_seconds) == ([], [], 0.0)


def test_missing_markers_give_the_rpo_and_markers_after_the_target_are_reported() -> None:
    markers = _markers()
    target = T0 + timedelta(seconds=2, milliseconds=505)
    # Marker 2 and 3 were acknowledged before the target but did not come back; 4 (written
    # after it) did.
    verdict = drill.evaluate(markers, {1, 4}, target)
    assert verdict.missing == [2, 3]
    assert verdict.unexpected == [4]
    assert verdict.rpo_seconds == pytest.approx(1.5)


def test_metrics_come_from_the_status_file(tmp_path: Path) -> None:
    path = tmp_path / "status.json"
    status.record_backup(
        path,
        kind="full",
        label="L",
        stopped_at=1796590890.0,
        seconds=88.5,
        repo_delta_bytes=900,
        size_bytes=5000,
    )
    status.record_backup_failure(path, "diff")
    status.record_drill(path, {"ok": True, "rpo_seconds": 0.0, "rto_seconds": 41.5}, ok=True)
    status.record_drill(path, {"ok": False, "rpo_seconds": None, "rto_seconds": None}, ok=False)
    registry = CollectorRegistry()
    registry.register(metrics.BackupStatusCollector(path))
    text = generate_latest(registry).decode()
    assert 'sichrplace_backup_last_success_timestamp_seconds{type="full"} 1.79659089e+09' in text
    assert 'sichrplace_backup_runs_total{outcome="succeeded",type="full"} 1.0' in text
    assert 'sichrplace_backup_runs_total{outcome="failed",type="diff"} 1.0' in text
    assert "sichrplace_restore_drill_success 0.0" in text  # the last one failed
    assert 'sichrplace_restore_drills_total{outcome="failed"} 1.0' in text
    assert "sichrplace_restore_drill_last_success_timestamp_seconds " in text
    assert "sichrplace_restore_drill_rto_seconds" not in text  # the failed drill had none
    assert "sichrplace_backup_status_created_timestamp_seconds " in text


def test_no_status_file_exports_nothing(tmp_path: Path) -> None:
    registry = CollectorRegistry()
    registry.register(metrics.BackupStatusCollector(tmp_path / "missing.json"))
    assert "sichrplace_" not in generate_latest(registry).decode()


def test_backups_and_the_drill_are_scheduled_on_their_own_queue() -> None:
    schedule = {p.task.name: p.cron for p in job_app.periodic_registry.periodic_tasks.values()}
    assert schedule["backup.full"] == "7 1 * * 0"  # weekly, Sunday
    assert schedule["backup.diff"] == "7 1 * * 1-6"  # the other days
    assert schedule["backup.drill"] == "37 3 * * 3"  # weekly, Wednesday
    for job in (tasks.full_backup, tasks.diff_backup, tasks.restore_drill):
        assert job.queue == "backup"
        assert job.lock == "backup"  # a drill never overlaps a backup
