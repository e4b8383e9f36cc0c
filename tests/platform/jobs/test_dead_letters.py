"""A failing handler is retried with exponential backoff, then dead-lettered and revivable."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

from sichrplace.platform.db import transaction
from sichrplace.platform.db.engines import Database
from sichrplace.platform.jobs import enqueue
from tests.platform.jobs.fixtures import SharedWorker
from tests.platform.jobs.tasks_for_tests import flaky
from tests.platform.jobs.workers import (
    events,
    job_errors,
    run_cli,
    wait_status,
)


def _retry_delays(errors: list[dict[str, Any]], evts: list[dict[str, Any]]) -> list[float]:
    """Seconds from each recorded failure to the retry time it got ('scheduled' event).

    The error row is written before the retry decision, so each value is the backoff plus
    the worker's own latency, never less than the backoff."""
    scheduled = [e["at"] for e in evts if e["type"] == "scheduled"]
    return [(s - e["at"]).total_seconds() for e, s in zip(errors, scheduled, strict=False)]


async def test_failing_job_backs_off_dead_letters_and_is_retried_by_cli(
    db: Database, shared_worker: SharedWorker, tmp_path: Path
) -> None:
    job_queue = shared_worker.queue  # no other test leaves failed jobs on it
    tokens = [uuid.uuid4().hex[:8] for _ in range(2)]
    heal = [tmp_path / f"heal-{t}" for t in tokens]
    async with transaction(db) as session:
        ids = [
            await enqueue(session, flaky, queue=job_queue, token=t, heal_file=str(h))
            for t, h in zip(tokens, heal, strict=True)
        ]

    for job_id, token in zip(ids, tokens, strict=True):
        row = await wait_status(db, job_id, "failed", within=15)
        assert row["attempts"] == 3  # the task allows 3 runs
        errors = await job_errors(db, job_id)
        assert [e["attempt"] for e in errors] == [1, 2, 3]
        assert all(f"boom {token}" in e["error"] for e in errors)
        evts = await events(db, job_id)
        delays = _retry_delays(errors, evts)
        assert len(delays) == 2  # two retries, the third failure is final
        assert 0.3 <= delays[0] < 0.6, delays  # base 0.3 s
        assert 0.6 <= delays[1] < 0.9, delays  # doubled
        starts = [e["at"] for e in evts if e["type"] == "started"]
        scheduled = [e["at"] for e in evts if e["type"] == "scheduled"]
        assert len(starts) == 3
        assert starts[1] >= scheduled[0]
        assert starts[2] >= scheduled[1]

    code, out = await run_cli("jobs", "failed", "--queue", job_queue, "--json")
    assert code == 0, out
    listed = {r["id"]: r for r in map(json.loads, out.splitlines()) if r}
    assert set(listed) == set(ids)
    for job_id, token in zip(ids, tokens, strict=True):
        assert listed[job_id]["task"] == "tests.jobs.flaky"
        assert listed[job_id]["attempts"] == 3
        assert f"boom {token}" in listed[job_id]["last_error"]
        assert listed[job_id]["args"]["token"] == token
    code, table = await run_cli("jobs", "failed", "--queue", job_queue)
    assert code == 0
    assert f"RuntimeError: boom {tokens[0]}" in table

    for h in heal:
        h.touch()
    code, out = await run_cli("jobs", "retry", str(ids[0]))
    assert code == 0, out
    assert f"retrying job {ids[0]}" in out
    code, out = await run_cli("jobs", "retry", "--all-failed", "--queue", job_queue)
    assert code == 0, out
    assert f"retrying job {ids[1]}" in out
    assert str(ids[0]) not in out  # no longer failed

    for job_id in ids:
        await wait_status(db, job_id, "succeeded", within=10)
    code, out = await run_cli("jobs", "retry", str(ids[0]))
    assert code == 1
    assert "not a failed job" in out
    code, out = await run_cli("jobs", "list", "--queue", job_queue, "--status", "succeeded")
    assert code == 0
    assert all(str(i) in out for i in ids)
    code, out = await run_cli("jobs", "failed", "--queue", job_queue, "--json")
    assert code == 0
    assert out.strip() == ""
