"""Snapshots of the in-process index: the full load's listings as columns (the base), and a
second small segment with the current versions of the listings changed since the load.

A snapshot is never modified once made (postings are added to a shared dictionary, which is
safe to read while it grows): a change makes a new snapshot that shares the base.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace

import numpy as np

from sichrplace.search.index import geometry, layout
from sichrplace.search.index.layout import RECORD, Columns, empty_records

Group = tuple[str, str, bytes, bytes, bytes]  # city_key, city, records, titles, title lengths


@dataclass(frozen=True, slots=True)
class Titles:
    """The base's titles: one UTF-8 blob, and each row's start and length in it."""

    blob: bytes
    start: np.ndarray  # int64, per base row
    length: np.ndarray  # int32, per base row

    def __getitem__(self, row: int) -> str:
        start = int(self.start[row])
        return self.blob[start : start + int(self.length[row])].decode()


@dataclass(frozen=True, slots=True)
class Change:
    """The current version of a listing changed since the full load."""

    status: str
    pair: tuple[str, str]
    record: bytes
    lexemes: tuple[str, ...]  # interned: the same word is one string across changes
    stamp: int
    title: str = ""


@dataclass(frozen=True)
class Snapshot:
    """What one count or page reads."""

    pairs: tuple[tuple[str, str], ...]  # (city_key, city) by code: the base's, then new ones
    base: Columns  # the full load, ordered by pair (a city is one slice), each in cell order
    titles: Titles  # the base rows' titles (what a page's items show besides the columns)
    key_slices: dict[str, tuple[int, int]]
    id_order: np.ndarray  # base positions in id order (to find a changed listing's base row)
    sorted_ids: np.ndarray  # base ids in that order
    cells: np.ndarray  # the base rows' cell keys (ascending: the base is in cell order)
    # Per sort field ("created", "warm", "cold"): base positions, each city_key's slice in
    # ascending (field, id) order, so a city's page is a walk from one end (or the cursor).
    orders: dict[str, np.ndarray]
    pair_extent: np.ndarray  # per pair: min lat, max lat, min lng, max lng (NaN if none)
    live: np.ndarray  # base rows not superseded by a change
    changed: Columns  # active versions of changed listings, in the order they were applied
    changed_live: np.ndarray  # rows of `changed` not superseded by a later change
    changed_rows: dict[bytes, int]  # id -> its row in `changed` (the latest version)
    changed_in: dict[str, np.ndarray]  # city_key -> its rows of `changed` (positions)
    changed_lexemes: tuple[tuple[str, ...], ...]
    changed_titles: tuple[str, ...]
    words: dict[str, float]  # lexeme -> share of listings (pg_stats), which postings may load
    postings: dict[str, np.ndarray] = field(default_factory=dict)  # lexeme -> base rows (bool)
    # lexeme -> rows of `changed` whose text has it (bool), made when first asked for
    changed_postings: dict[str, np.ndarray] = field(default_factory=dict)

    def changed_posting(self, lexeme: str) -> np.ndarray:
        posting = self.changed_postings.get(lexeme)
        if posting is None:
            posting = _has(lexeme, self.changed_lexemes)
            self.changed_postings[lexeme] = posting
        return posting

    def base_position(self, ids: np.ndarray) -> np.ndarray:
        """Base positions of `ids` (S16), -1 where an id is not in the base."""
        if len(self.sorted_ids) == 0:
            return np.full(len(ids), -1, dtype=np.int64)
        at = np.minimum(np.searchsorted(self.sorted_ids, ids), len(self.sorted_ids) - 1)
        return np.where(self.sorted_ids[at] == ids, self.id_order[at], -1)

    def title(self, changed: bool, row: int) -> str:
        return self.changed_titles[row] if changed else self.titles[row]

    def nbytes(self) -> int:
        """The arrays' memory (postings included), for the memory metric and budget."""
        arrays = [*self.base.arrays.values(), *self.changed.arrays.values(), *self.orders.values()]
        arrays += [self.id_order, self.sorted_ids, self.cells, self.live, self.base.pair]
        arrays += [self.titles.start, self.titles.length, *self.postings.values()]
        return sum(a.nbytes for a in arrays) + len(self.titles.blob)


def build_base(groups: Iterable[Group], words: dict[str, float]) -> Snapshot:
    """A snapshot from the full load's rows: (city_key, city, concatenated records, their
    titles concatenated in UTF-8, each title's length in bytes as big-endian int4), each
    city's rows in cell order. Rows of one (city_key, city) may come in several groups."""
    merged: dict[tuple[str, str], list[Group]] = {}
    for group in groups:
        merged.setdefault((group[0], group[1]), []).append(group)
    ordered = sorted(merged.items())
    pairs = tuple(pair for pair, _ in ordered)
    parts, lengths, blobs = [], [], []
    for (key, city), chunks in ordered:
        for _, _, raw_records, blob, raw_lengths in chunks:
            part = np.frombuffer(raw_records or b"", dtype=RECORD)
            length = np.frombuffer(raw_lengths or b"", dtype=">i4")
            if len(length) != len(part) or int(length.sum()) != len(blob):
                raise ValueError(f"titles do not match the records of {key!r} ({city!r})")
            parts.append(part)
            lengths.append(length)
            blobs.append(blob)
    sizes = np.asarray(
        [sum(len(c[2]) for c in chunks) // RECORD.itemsize for _, chunks in ordered],
        dtype=np.int64,
    )
    records = np.concatenate(parts) if parts else empty_records()
    pair = np.repeat(np.arange(len(ordered), dtype=np.int32), sizes)
    lat, lng = records["lat"].astype(np.float64), records["lng"].astype(np.float64)
    cells = geometry.cell_keys(pair, lat, lng)
    order = np.argsort(cells, kind="stable")  # pair codes lead: each city stays one slice
    cells, pair = cells[order], pair[order]
    base = Columns.from_records(records[order], pair)
    # The titles stay in load order; each base row keeps where its own one is.
    length = np.concatenate(lengths or [np.zeros(0, dtype=">i4")]).astype(np.int32)
    start = np.cumsum(length, dtype=np.int64) - length
    titles = Titles(b"".join(blobs), start[order], length[order])
    key_slices: dict[str, tuple[int, int]] = {}
    offset = 0
    for (key, _), n in zip(pairs, sizes.tolist(), strict=True):
        lo = key_slices.get(key, (offset, offset))[0]
        key_slices[key] = (lo, offset + n)
        offset += n
    id_order = np.argsort(base.ids, kind="stable")
    return Snapshot(
        pairs=pairs,
        base=base,
        titles=titles,
        key_slices=key_slices,
        id_order=id_order,
        sorted_ids=base.ids[id_order],
        cells=cells,
        orders=_sort_orders(base, key_slices, id_order),
        pair_extent=geometry.extents(pair, base[layout.LAT], base[layout.LNG], len(pairs)),
        live=np.ones(len(base), dtype=bool),
        changed=Columns.empty(),
        changed_live=np.zeros(0, dtype=bool),
        changed_rows={},
        changed_in={},
        changed_lexemes=(),
        changed_titles=(),
        words=words,
    )


def _sort_orders(
    base: Columns, key_slices: dict[str, tuple[int, int]], id_order: np.ndarray
) -> dict[str, np.ndarray]:
    # Which city_key each row belongs to (the slices are contiguous, in pair order), and each
    # row's place in id order (sorts as the ids do, cheaper than the 16-byte ids themselves).
    key_code = np.zeros(len(base), dtype=np.int32)
    for code, (lo, hi) in enumerate(key_slices.values()):
        key_code[lo:hi] = code
    id_rank = np.empty(len(base), dtype=np.int64)
    id_rank[id_order] = np.arange(len(base))
    return {
        f.name: np.lexsort((id_rank, base[f], key_code)).astype(np.int32)
        for f in (layout.CREATED, layout.WARM, layout.COLD)
    }


def with_changes(snap: Snapshot, fresh: dict[bytes, Change]) -> Snapshot:
    """`snap` with the `fresh` changes applied: the base rows and earlier changed rows of
    those listings retired, their active versions appended. The cost is in the fresh changes
    (and array copies in C), not in every change since the load."""
    ids = np.asarray(list(fresh), dtype="S16")
    live = snap.live.copy()
    if len(ids):
        at = snap.base_position(ids)
        live[at[at >= 0]] = False
    changed_rows = dict(snap.changed_rows)
    n = len(snap.changed)
    active = [(listing_id, c) for listing_id, c in fresh.items() if c.status == "active"]
    changed_live = np.concatenate([snap.changed_live, np.ones(len(active), dtype=bool)])
    for listing_id in fresh:
        earlier = changed_rows.pop(listing_id, None)
        if earlier is not None:
            changed_live[earlier] = False
    pairs = list(snap.pairs)
    codes = {p: i for i, p in enumerate(pairs)}
    pair = np.empty(len(active), dtype=np.int32)
    by_key: dict[str, list[int]] = {}
    for i, (listing_id, c) in enumerate(active):
        if c.pair not in codes:
            codes[c.pair] = len(pairs)
            pairs.append(c.pair)
        pair[i] = codes[c.pair]
        changed_rows[listing_id] = n + i
        by_key.setdefault(c.pair[0], []).append(n + i)
    records = (
        np.frombuffer(b"".join(c.record for _, c in active), dtype=RECORD)
        if active
        else empty_records()
    )
    added = Columns.from_records(records, pair)
    changed = Columns(
        {name: np.concatenate([snap.changed[name], added[name]]) for name in added},
        np.concatenate([snap.changed.pair, added.pair]),
    )
    changed_in = dict(snap.changed_in)
    for key, rows in by_key.items():
        new_rows = np.asarray(rows, dtype=np.int64)
        old = changed_in.get(key)
        changed_in[key] = new_rows if old is None else np.concatenate([old, new_rows])
    lexemes = tuple(c.lexemes for _, c in active)
    return replace(
        snap,
        pairs=tuple(pairs),
        live=live,
        changed=changed,
        changed_live=changed_live,
        changed_rows=changed_rows,
        changed_in=changed_in,
        changed_lexemes=snap.changed_lexemes + lexemes,
        changed_titles=snap.changed_titles + tuple(c.title for _, c in active),
        changed_postings={
            word: np.concatenate([posting, _has(word, lexemes)])
            for word, posting in snap.changed_postings.items()
        },
    )


def _has(word: str, lexemes: Sequence[tuple[str, ...]]) -> np.ndarray:
    return np.fromiter((word in ls for ls in lexemes), dtype=bool, count=len(lexemes))


def postings_of(snap: Snapshot, blobs: Sequence[bytes]) -> list[np.ndarray]:
    """For each blob of ids (concatenated 16-byte uuids), which base rows are among them.
    Base rows that changed since the load are retired (`live`) whatever their text is now."""
    out = []
    for blob in blobs:
        at = snap.base_position(np.frombuffer(blob, dtype="S16"))
        posting = np.zeros(len(snap.base), dtype=bool)
        posting[at[at >= 0]] = True
        out.append(posting)
    return out
