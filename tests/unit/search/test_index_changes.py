"""Changes applied a look at a time (search/index/snapshot.py with_changes): a listing
changed again retires its earlier version, one that left `active` or was deleted leaves the
counts, and counts and pages equal those of the same changes applied at once."""

from __future__ import annotations

import random

import numpy as np

from sichrplace.search.index import layout
from sichrplace.search.index import query as index_query
from sichrplace.search.index.layout import RECORD
from sichrplace.search.index.snapshot import Change, Snapshot, with_changes
from sichrplace.search.params import filter_params, search_params, to_filters, to_query
from tests.unit.search.test_index_cells import _snapshot


def _change(snap: Snapshot, row: int, warm: int, stamp: int, status: str = "active") -> Change:
    record = np.zeros(1, dtype=RECORD)
    for f in layout.FIELDS:
        record[f.name] = snap.base[f][row]
    record["warm"], record["stamp"] = warm, stamp
    key, city = snap.pairs[int(snap.base.pair[row])]
    return Change(status, (key, city), record.tobytes(), ("balkon",), stamp, f"Titel {stamp}")


def _views(snap: Snapshot) -> list[object]:
    out: list[object] = []
    for params in ({"city": "A"}, {"max_rent": 80_000}, {"city": "B", "q": "Balkon"}):
        f = to_filters(filter_params({k: v for k, v in params.items() if k != "q"}))
        lexemes, postings = (
            ((), []) if "q" not in params else (("balkon",), [np.zeros(len(snap.base), dtype=bool)])
        )
        out.append(sorted(index_query.run(index_query.count(snap, f, lexemes, postings))))
    query = to_query(search_params({"sort": "rent_asc", "limit": 50}))
    hits = index_query.run(index_query.page(snap, query.filters, query.sort, None, 51))
    out.append([(h.id, h.stamp) for h in hits])
    return out


def test_changes_a_look_at_a_time_equal_changes_at_once() -> None:
    snap = _snapshot(3, per_city=600)
    rng = random.Random(3)
    rows = rng.sample(range(len(snap.base)), 120)
    first = {bytes(snap.base.ids[r]).ljust(16, b"\0"): _change(snap, r, 40_000 + i, 10 + i)
             for i, r in enumerate(rows[:80])}  # fmt: skip
    second = {bytes(snap.base.ids[r]).ljust(16, b"\0"): _change(snap, r, 90_000 + i, 500 + i)
              for i, r in enumerate(rows[40:])}  # fmt: skip
    # Half of the second look's changes are listings the first changed already; some leave.
    for i, key in enumerate(list(second)[:10]):
        second[key] = Change("rented", ("", ""), b"", (), 900 + i)
    stepped = with_changes(with_changes(snap, first), second)
    at_once = with_changes(snap, {**first, **second})
    assert _views(stepped) == _views(at_once)
    assert int(stepped.changed_live.sum()) == int(at_once.changed_live.sum()) == 110
    assert int(np.count_nonzero(~stepped.live)) == 120
