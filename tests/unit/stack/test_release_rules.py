"""Releases and canaries without a stack: nginx weights and `down`, the rendered programs of a
release and a canary, Prometheus's tracks, the canary's verdict, counting its requests in
nginx's log, and preparing a release from a source folder."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from sichrplace.cli.stack_release import _seconds
from sichrplace.config import PROJECT_ROOT, Settings
from sichrplace.stack import canary, observability, releases, render
from sichrplace.stack.canary import Decision, Limits, TrackStats, judge, wilson_lower
from sichrplace.stack.layout import Layout
from sichrplace.stack.releases import Canary, ReleaseState


@pytest.mark.parametrize(("stable", "percent"), [(1, 10), (2, 10), (3, 10), (2, 25), (4, 5)])
def test_canary_weights_give_the_asked_share(stable: int, percent: int) -> None:
    w_stable, w_canary = render.canary_weights(stable, percent)
    assert w_canary / (w_canary + stable * w_stable) == pytest.approx(percent / 100)


def test_canary_weights_are_the_smallest_integers() -> None:
    assert render.canary_weights(2, 10) == (9, 2)
    assert render.canary_weights(2, 50) == (1, 2)
    with pytest.raises(ValueError, match="1-99 %"):
        render.canary_weights(2, 0)
    with pytest.raises(ValueError, match="1-99 %"):
        render.canary_weights(2, 100)


def test_upstream_marks_an_instance_down_and_weighs_the_canary() -> None:
    settings = Settings()
    ports = [58001, 58002]
    plain = render.upstream_servers(settings, ports, ReleaseState())
    assert plain.splitlines() == [
        "        server 127.0.0.1:58001 max_fails=3 fail_timeout=3s;",
        "        server 127.0.0.1:58002 max_fails=3 fail_timeout=3s;",
    ]
    state = ReleaseState(canary=Canary("abc", 10), down=[58002])
    lines = render.upstream_servers(settings, ports, state).splitlines()
    canary_port = releases.canary_port(settings)
    assert lines == [
        "        server 127.0.0.1:58001 weight=9 max_fails=3 fail_timeout=3s;",
        "        server 127.0.0.1:58002 weight=9 max_fails=3 fail_timeout=3s down;",
        f"        server 127.0.0.1:{canary_port} weight=2 max_fails=3 fail_timeout=3s;",
    ]


def _release(layout: Layout, release_id: str) -> None:
    path = releases.releases_dir(layout) / release_id
    (path / "src").mkdir(parents=True)
    meta = {"label": "v1", "git_sha": release_id, "created": "now"}
    (path / "release.json").write_text(json.dumps(meta))


def _env_of(conf: str, program: str) -> str:
    block = conf.split(f"[program:{program}]", 1)[1].split("[program:", 1)[0]
    found = re.search(r"^environment = (.*)$", block, re.M)
    assert found, block
    return found.group(1)


def test_programs_run_their_release_and_the_canary_gets_its_own(tmp_path: Path) -> None:
    settings = Settings()
    layout = Layout(tmp_path)
    _release(layout, "aaa111")
    _release(layout, "bbb222")
    releases.save_state(
        layout,
        ReleaseState(
            programs={"api-1": "aaa111", "worker-1": "aaa111"}, canary=Canary("bbb222", 10)
        ),
    )
    conf = render.supervisor_programs(settings, layout, instances=2, workers=1)
    code = releases.releases_dir(layout)
    assert f'PYTHONPATH="{code}/aaa111/src"' in _env_of(conf, "api-1")
    assert 'SICHRPLACE_APP_GIT_SHA="aaa111"' in _env_of(conf, "api-1")
    assert "PYTHONPATH" not in _env_of(conf, "api-2")  # the checkout
    assert f'PYTHONPATH="{code}/aaa111/src"' in _env_of(conf, "worker-1")
    assert f'PYTHONPATH="{code}/bbb222/src"' in _env_of(conf, "api-canary")
    assert f"--port {releases.canary_port(settings)}" in conf.split("[program:api-canary]")[1]
    releases.save_state(layout, ReleaseState())
    assert "api-canary" not in render.supervisor_programs(settings, layout, 2, 1)


def test_prometheus_labels_the_tracks(tmp_path: Path) -> None:
    settings = Settings()
    layout = Layout(tmp_path)

    def api_targets() -> list[dict[str, Any]]:
        text = observability.prometheus_config(settings, layout, [58001, 58002], workers=1)
        jobs = {j["job_name"]: j for j in yaml.safe_load(text)["scrape_configs"]}
        return list(jobs["api"]["static_configs"])

    assert {t["labels"]["track"] for t in api_targets()} == {"stable"}
    releases.save_state(layout, ReleaseState(canary=Canary("x", 10)))
    last = api_targets()[-1]
    assert last["targets"] == [f"127.0.0.1:{releases.canary_port(settings)}"]
    assert last["labels"] == {"program": "api-canary", "track": "canary"}


def test_state_round_trips_and_a_missing_file_is_the_checkout(tmp_path: Path) -> None:
    layout = Layout(tmp_path)
    assert releases.load_state(layout) == ReleaseState()
    state = ReleaseState(programs={"api-1": "x"}, canary=Canary("y", 5), down=[58001])
    releases.save_state(layout, state)
    assert releases.load_state(layout) == state
    assert releases.describe(layout, None) == releases.CHECKOUT


STABLE = TrackStats(requests=2000, errors=0, p95_s=0.05)


def test_wilson_lower_bound() -> None:
    assert wilson_lower(0, 0) == 0
    assert wilson_lower(0, 100) == 0
    assert wilson_lower(10, 100) == pytest.approx(0.0552, abs=1e-3)
    assert wilson_lower(5, 5) > 0.5


def test_a_broken_canary_is_rolled_back_early() -> None:
    broken = TrackStats(requests=60, errors=12, p95_s=0.04)
    decision = judge(broken, STABLE, Limits(), final=False)
    assert decision.action == "rollback"
    assert "clearly" in decision.reason


def test_a_few_errors_wait_for_the_window() -> None:
    # 2 of 100: over 1 % but not clearly (too few to tell), judged at the end.
    unlucky = TrackStats(requests=100, errors=2, p95_s=0.05)
    assert judge(unlucky, STABLE, Limits(), final=False).action == "continue"
    assert judge(unlucky, STABLE, Limits(), final=True).action == "rollback"
    fine = TrackStats(requests=300, errors=1, p95_s=0.05)
    assert judge(fine, STABLE, Limits(), final=True).action == "promote"


def test_the_error_limit_is_relative_to_the_stable_instances() -> None:
    stable = TrackStats(requests=2000, errors=100, p95_s=0.05)  # 5 % (a bad dependency)
    canary_stats = TrackStats(requests=200, errors=11, p95_s=0.05)  # 5.5 %
    assert judge(canary_stats, stable, Limits(), final=True).action == "promote"


def test_p95_is_judged_at_the_end_with_a_slack() -> None:
    slow = TrackStats(requests=200, errors=0, p95_s=0.2)
    assert judge(slow, STABLE, Limits(), final=False).action == "continue"
    assert judge(slow, STABLE, Limits(), final=True).action == "rollback"
    # 90 ms against 50: over 1.5 times, within the 50 ms slack of a cold canary.
    cold = TrackStats(requests=200, errors=0, p95_s=0.09)
    assert judge(cold, STABLE, Limits(), final=True) == Decision(
        "promote", "5xx 0.0% vs stable 0.0%, p95 90 ms vs 50 ms"
    )


def test_too_few_requests_is_no_promotion() -> None:
    idle = TrackStats(requests=5, errors=0, p95_s=None)
    assert judge(idle, STABLE, Limits(), final=True).action == "rollback"


def _line(upstream: str, status: int) -> str:
    return json.dumps({"upstream": upstream, "status": status, "uri": "/x"}) + "\n"


def test_count_log_from_an_offset(tmp_path: Path) -> None:
    log = tmp_path / "nginx-access.log"
    before = _line("127.0.0.1:58016", 500)
    log.write_text(before)
    offset = log.stat().st_size
    with log.open("a") as out:
        out.write(_line("127.0.0.1:58001", 200))
        out.write(_line("127.0.0.1:58016", 200))
        out.write(_line("127.0.0.1:58016", 500))
        out.write(_line("127.0.0.1:58016, 127.0.0.1:58002", 502))  # retried elsewhere
        out.write(_line("", 200))  # answered by nginx itself (a cached or static file)
        out.write("not json\n")
    count = canary.count_log(log, offset, "127.0.0.1:58016")
    assert count == canary.LogCount(proxied=4, canary=2, canary_failed=1)
    assert count.share == 0.5
    assert canary.failure_bound(10, 1000) == 150


def test_durations() -> None:
    assert _seconds("60s") == 60
    assert _seconds("2m") == 120
    assert _seconds("15") == 15


def test_a_source_release_is_the_folders_code_and_keyed_by_its_content(tmp_path: Path) -> None:
    layout = Layout(tmp_path / "data")
    tree = tmp_path / "tree"
    (tree / "src" / "sichrplace").mkdir(parents=True)
    shutil.copy(PROJECT_ROOT / "src" / "sichrplace" / "__init__.py", tree / "src" / "sichrplace")
    first = releases.prepare(Settings(), layout, None, tree)
    assert first is not None
    assert first.id.startswith("src-")
    assert (first.code / "sichrplace" / "__init__.py").exists()
    assert (first.path / "alembic.ini").exists()  # the checkout's, the tree has none
    assert releases.prepare(Settings(), layout, None, tree) == first  # prepared once
    (tree / "src" / "sichrplace" / "patched.py").write_text("BROKEN = True\n")
    second = releases.prepare(Settings(), layout, None, tree)
    assert second is not None
    assert second.id != first.id
    assert releases.prepare(Settings(), layout, releases.CHECKOUT) is None
