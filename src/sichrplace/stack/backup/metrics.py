"""Backup and restore-drill metrics, read from status.json when Prometheus scrapes.

Registered in the default registry on import; the job worker imports it through the backup
jobs (tasks.py), so the stack's Prometheus reads them from the `worker` job. Every worker
reports the same file: rules take the max over them. Nothing is exported before the first
backup or drill (the alerts on a missing drill or backup read the timestamps' absence).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from prometheus_client import REGISTRY
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from sichrplace.config import get_settings
from sichrplace.stack.backup import status
from sichrplace.stack.backup.pgbackrest import paths_for
from sichrplace.stack.layout import layout_for

BACKUP_LAST = "sichrplace_backup_last_success_timestamp_seconds"
BACKUP_DURATION = "sichrplace_backup_last_duration_seconds"
BACKUP_SIZE = "sichrplace_backup_last_size_bytes"
BACKUP_RUNS = "sichrplace_backup_runs"
SINCE = "sichrplace_backup_status_created_timestamp_seconds"
DRILL_LAST_SUCCESS = "sichrplace_restore_drill_last_success_timestamp_seconds"
DRILL_LAST_RUN = "sichrplace_restore_drill_last_run_timestamp_seconds"
DRILL_OK = "sichrplace_restore_drill_success"
DRILL_RPO = "sichrplace_restore_drill_rpo_seconds"
DRILL_RTO = "sichrplace_restore_drill_rto_seconds"
DRILL_ARCHIVE_LAG = "sichrplace_restore_drill_archive_lag_seconds"
DRILL_RUNS = "sichrplace_restore_drills"


def _families() -> dict[str, GaugeMetricFamily | CounterMetricFamily]:
    return {
        BACKUP_LAST: GaugeMetricFamily(
            BACKUP_LAST,
            "When the last backup of each type finished (pgBackRest's stop time).",
            labels=["type"],
        ),
        BACKUP_DURATION: GaugeMetricFamily(
            BACKUP_DURATION, "How long the last backup of each type took.", labels=["type"]
        ),
        BACKUP_SIZE: GaugeMetricFamily(
            BACKUP_SIZE,
            "What the last backup of each type added to the repository (compressed bytes).",
            labels=["type"],
        ),
        BACKUP_RUNS: CounterMetricFamily(
            BACKUP_RUNS, "Backups run, by type and outcome.", labels=["type", "outcome"]
        ),
        SINCE: GaugeMetricFamily(
            SINCE, "Since when backups and drills are recorded (a missing one counts from here)."
        ),
        DRILL_LAST_SUCCESS: GaugeMetricFamily(
            DRILL_LAST_SUCCESS, "When the last successful restore drill ended."
        ),
        DRILL_LAST_RUN: GaugeMetricFamily(DRILL_LAST_RUN, "When the last restore drill ended."),
        DRILL_OK: GaugeMetricFamily(DRILL_OK, "1 when the last restore drill passed, else 0."),
        DRILL_RPO: GaugeMetricFamily(
            DRILL_RPO, "Acknowledged data before the target missing after the last drill's restore."
        ),
        DRILL_RTO: GaugeMetricFamily(
            DRILL_RTO, "Seconds from the last drill's restore command to a queryable database."
        ),
        DRILL_ARCHIVE_LAG: GaugeMetricFamily(
            DRILL_ARCHIVE_LAG, "Seconds from a drill marker's commit to its WAL in the archive."
        ),
        DRILL_RUNS: CounterMetricFamily(
            DRILL_RUNS, "Restore drills run, by outcome.", labels=["outcome"]
        ),
    }


def collect_status(data: status.Status) -> list[Metric]:
    """The metric families for one status.json (a pure function: tested directly)."""
    fams = _families()
    if "created_at" in data:
        fams[SINCE].add_metric([], float(data["created_at"]))
    for kind, backup in sorted(data.get("backups", {}).items()):
        fams[BACKUP_LAST].add_metric([kind], float(backup["stopped_at"]))
        fams[BACKUP_DURATION].add_metric([kind], float(backup["duration_seconds"]))
        fams[BACKUP_SIZE].add_metric([kind], float(backup["repo_delta_bytes"]))
    for key, count in sorted(data.get("backup_runs", {}).items()):
        kind, _, outcome = key.partition(":")
        fams[BACKUP_RUNS].add_metric([kind, outcome], float(count))
    drill = data.get("drill", {})
    if "last_run" in drill:
        last = drill.get("last", {})
        fams[DRILL_LAST_RUN].add_metric([], float(drill["last_run"]))
        fams[DRILL_OK].add_metric([], 1.0 if last.get("ok") else 0.0)
        for name, key in (
            (DRILL_RPO, "rpo_seconds"),
            (DRILL_RTO, "rto_seconds"),
            (DRILL_ARCHIVE_LAG, "archive_lag_seconds"),
        ):
            if last.get(key) is not None:
                fams[name].add_metric([], float(last[key]))
    if "last_success" in drill:
        fams[DRILL_LAST_SUCCESS].add_metric([], float(drill["last_success"]))
    for outcome, count in sorted(data.get("drill_runs", {}).items()):
        fams[DRILL_RUNS].add_metric([outcome], float(count))
    return [fam for fam in fams.values() if fam.samples]


class BackupStatusCollector(Collector):
    def __init__(self, status_file: Path | None = None) -> None:
        self._status_file = status_file

    def _file(self) -> Path:
        if self._status_file is None:
            settings = get_settings()
            self._status_file = paths_for(settings, layout_for(settings)).status_file
        return self._status_file

    def describe(self) -> Iterable[Metric]:
        return list(_families().values())

    def collect(self) -> Iterable[Metric]:
        return collect_status(status.read(self._file()))


COLLECTOR = BackupStatusCollector()
REGISTRY.register(COLLECTOR)
