"""Releases on the running stack under read load (wrk, 32 connections through nginx): a rolling
release of HEAD fails no request (nginx's access log), and a canary of a broken build (one
route answers 500) is rolled back automatically, its failures bounded by its weight, the
stable instances untouched."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from sichrplace.bench.load import WRK_DONE, WRK_SCRIPT, require_tool, wrk_measurement
from sichrplace.bench.scenarios import paths, popular_facets, popular_search
from sichrplace.config import PROJECT_ROOT, Settings
from sichrplace.stack import canary, faultproxy, releases, supervisor
from sichrplace.stack import release as release_mod
from sichrplace.stack.layout import Layout
from sichrplace.stack.render import api_ports
from tests.stack.conftest import program_pid

VERSION = "/api/v1/version"
READS = [*paths(popular_search()), *paths(popular_facets()), "/api/v1/search/suggest?q=ber"]


@pytest.fixture(autouse=True)
def _no_other_change(layout: Layout) -> None:
    if faultproxy.is_armed(layout):
        pytest.skip("the fault proxy is armed (a chaos run)")
    if releases.load_state(layout).canary is not None:
        pytest.skip("a canary is running")


@contextmanager
def wrk_load(stack_url: str, reads: list[str], tmp: Path) -> Iterator[dict[str, object]]:
    """wrk with 32 connections over `reads` until the block ends (SIGINT: it prints its
    summary), its figures in the yielded dict."""
    script, path_file = tmp / "rotate.lua", tmp / "paths.txt"
    script.write_text(WRK_SCRIPT + WRK_DONE)
    path_file.write_text("\n".join(reads) + "\n")
    cmd = [require_tool("wrk"), "-t2", "-c32", "-d600s", "--timeout", "10s", "-s", str(script)]
    proc = subprocess.Popen(
        # Past the edge's cache and the API's: every request reaches an instance.
        [*cmd, stack_url, "--", str(path_file), "bypass"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    figures: dict[str, object] = {}
    try:
        time.sleep(2)  # connections open, instances warm
        yield figures
    finally:
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
        figures["wrk"] = wrk_measurement(subprocess.CompletedProcess(cmd, 0, out, err))


def _log_offset(layout: Layout) -> int:
    return (layout.logs / "nginx-access.log").stat().st_size


def _log_since(layout: Layout, offset: int) -> list[dict[str, object]]:
    time.sleep(1.2)  # nginx flushes its access log buffer every second
    with (layout.logs / "nginx-access.log").open("rb") as log:
        log.seek(offset)
        return [json.loads(line) for line in log if line.startswith(b"{")]


def _reported_sha(port: int) -> str:
    return str(httpx.get(f"http://127.0.0.1:{port}{VERSION}", timeout=5).json()["git_sha"])


def test_a_rolling_release_under_load_fails_no_request(
    settings: Settings, layout: Layout, stack_url: str, tmp_path: Path
) -> None:
    target = releases.prepare(settings, layout, "HEAD")
    assert target is not None
    ports = api_ports(settings, 2)
    try:
        offset = _log_offset(layout)
        with wrk_load(stack_url, READS, tmp_path) as figures:
            outcome = release_mod.release(settings, layout, target, workers=True, force=True)
        entries = _log_since(layout, offset)
        failed = [e for e in entries if int(str(e["status"])) >= 500]
        wrk = figures["wrk"]
        print(f"release under load: {[t.line() for t in outcome.timings]}, {wrk}")
        assert len(outcome.timings) == 3  # api-1, api-2, worker-1
        assert len(entries) > 200
        assert not failed, failed[:5]
        assert all(_reported_sha(port) == target.git_sha for port in ports)
        assert releases.load_state(layout).down == []
    finally:
        # Back on the checkout's code, as the rest of the suite expects.
        release_mod.release(settings, layout, None, workers=True)
    assert releases.load_state(layout).programs == {}
    assert all(_reported_sha(port) != target.git_sha for port in ports)


def _broken_build(tmp: Path) -> Path:
    """A copy of the code whose /api/v1/version answers 500."""
    tree = tmp / "broken"
    shutil.copytree(
        PROJECT_ROOT / "src" / "sichrplace",
        tree / "src" / "sichrplace",
        ignore=shutil.ignore_patterns("__pycache__"),
    )
    endpoints = tree / "src" / "sichrplace" / "ops" / "endpoints.py"
    text = endpoints.read_text()
    line = "return VersionOut(version=__version__, git_sha=parts_of(request).settings.app.git_sha)"
    assert line in text
    endpoints.write_text(text.replace(line, 'raise RuntimeError("a broken build")'))
    return tree


def test_a_broken_canary_is_rolled_back_within_its_window(
    settings: Settings, layout: Layout, stack_url: str, tmp_path: Path
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        target = releases.prepare(settings, layout, None, _broken_build(Path(tmp)))
    assert target is not None
    stable = {name: program_pid(layout, name) for name in ("api-1", "api-2")}
    window = 20.0
    # Half of the requests on the broken route, so its failures are plain to see.
    reads = [path for read in READS for path in (read, VERSION)]
    with wrk_load(stack_url, reads, tmp_path):
        report = canary.run(
            settings, layout, target, weight=10, window_s=window, limits=canary.Limits()
        )
    print("\n".join(report.lines()))
    assert report.decision.action == "rollback", report.decision
    assert report.decided_after_s < window
    assert report.log is not None
    assert 0 < report.log.canary_failed <= report.bound
    assert {name: program_pid(layout, name) for name in stable} == stable
    assert supervisor.state_of(layout, releases.CANARY_PROGRAM) == "UNKNOWN"
    assert releases.load_state(layout).canary is None
    assert f":{releases.canary_port(settings)} " not in (layout.conf / "nginx.conf").read_text()
