"""The index benchmark (`sichrplace bench index`) at a tiny size, no database: its synthetic
listings count and page as a plain numpy pass over the same records says (so the benchmark
measures real work), and its report holds every figure."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

from sichrplace.bench.index import (
    FILTER_SETS,
    OPERATIONS,
    FilterSet,
    IndexBenchConfig,
    filters_of,
    run,
    table,
)
from sichrplace.bench.synthetic import TextPool, generate, synthetic_changes, text_pool
from sichrplace.search.index import query
from sichrplace.search.index.layout import RECORD
from sichrplace.search.index.snapshot import Change, Group, build_base, with_changes

N = 20_000
SIZE = RECORD.itemsize


@pytest.fixture(scope="module")
def pool() -> TextPool:
    return text_pool(2_000, 3)


def _reference(groups: list[Group], changes: dict[bytes, Change]) -> tuple[np.ndarray, np.ndarray]:
    """Every active listing's city_key and record after the changes, without the index."""
    current: dict[bytes, tuple[str, bytes]] = {}
    for key, _, records, _, _ in groups:
        for at in range(0, len(records), SIZE):
            current[records[at : at + 16]] = (key, records[at : at + SIZE])
    for ident, change in changes.items():
        if change.status == "active":
            current[ident] = (change.pair[0], change.record)
        else:
            current.pop(ident, None)
    keys = np.asarray([key for key, _ in current.values()])
    records = np.frombuffer(b"".join(r for _, r in current.values()), dtype=RECORD)
    return keys, records


def test_counts_and_pages_agree_with_numpy(pool: TextPool) -> None:
    groups = generate(N, 3, pool)
    assert sum(len(g[2]) for g in groups) == N * SIZE
    snap = build_base(groups, {})
    changes = synthetic_changes(snap, 1_000, 4, pool)
    answering = with_changes(snap, changes)
    keys, records = _reference(groups, changes)

    everything = query.run(query.count(answering, filters_of(FilterSet("all", {}), 0)))
    assert sum(r.n for r in everything if r.facet == "city") == len(records)

    params = {"city": "Berlin", "max_rent": 120_000, "min_rooms": 2}
    f = filters_of(FilterSet("berlin", params), 0)
    m = (keys == "berlin") & (records["warm"] <= 120_000) & (records["rooms2"] >= 4)
    rows = query.run(query.count(answering, f))
    assert sum(r.n for r in rows if r.facet == "city") == int(m.sum()) > 1_000
    rooms2, n = np.unique(records["rooms2"][m], return_counts=True)
    expected = {f"{r // 2}.{5 if r % 2 else 0}": int(c) for r, c in zip(rooms2, n, strict=True)}
    assert {r.value: r.n for r in rows if r.facet == "rooms"} == expected

    # The newest page: (created, id) descending.
    raw = records[m].tobytes()
    ids = [raw[i * SIZE : i * SIZE + 16] for i in range(int(m.sum()))]
    newest = sorted(zip(records["created"][m].tolist(), ids, strict=True), reverse=True)
    hits = query.run(query.page(answering, f, "newest", None, 21))
    assert [h.id for h in hits] == [i for _, i in newest[:21]]


def test_report_holds_every_figure(tmp_path: Path) -> None:
    cfg = IndexBenchConfig(
        listings=N, runs=2, changes=500, repeats=2, reloads=1, seed=3, app_baseline=False,
        results_dir=tmp_path,
    )  # fmt: skip
    report, path = run(cfg, lambda _: None)
    assert re.fullmatch(r"index-\d{8}T\d{6}Z\.json", path.name)
    assert json.loads(path.read_text()) == report

    assert len(report["build"]["runs"]) == 2
    assert report["build"]["wall_median_s"] > 0
    memory = report["memory"]
    assert memory["nbytes_per_listing"] == pytest.approx(memory["snapshot_nbytes"] / N, abs=0.1)
    assert memory["nbytes_per_listing"] > 100
    assert memory["rss_loaded"] > memory["rss_start"]
    assert report["changes"]["deep_bytes_per_change"] > 1_000  # its lexemes, mostly
    assert report["changes"]["with_changes_median_s"] > 0
    (cycle,) = report["reload"]["cycles"]
    assert cycle["rss_peak"] is None or cycle["rss_peak"] >= cycle["rss_both"]

    queries = {(q["filter_set"], q["operation"]): q for q in report["queries"]}
    assert set(queries) == {(fs.name, op) for fs in FILTER_SETS for op in OPERATIONS}
    for (name, op), q in queries.items():
        if name == "berlin_radius_3km" and not q["calls"]:
            continue  # a point whose circle passes within a millimetre of a listing
        assert q["calls"] + q["unsupported"] == 2, name
        assert 0 < q["median_ms"] <= q["p95_ms"]
        # Each call's longest step is within the call.
        assert 0 < q["longest_step_median_ms"] <= q["median_ms"] + 1e-3
        assert q["matches"] == 21 if op != "count" else q["matches"] > 0
    assert N - 500 <= queries["germany", "count"]["matches"] <= N + 500
    assert "germany" in table(report)
