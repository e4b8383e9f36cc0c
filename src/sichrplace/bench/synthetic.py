"""Synthetic listings for `sichrplace bench index`: records of layout.RECORD drawn with the
seed's distributions (seeding/listings.py: cities, rooms, sizes, rents, amenities, energy
classes), vectorised, grouped as the full load reads them (index_feed.load_statement: one group
per chunk of ids and (city_key, city), records, titles and big-endian title lengths), and
changes as the keeper holds them."""

from __future__ import annotations

import re
import sys
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np

from sichrplace.listings.vocabulary import AMENITIES, ENERGY_CLASSES, city_key
from sichrplace.search.index import layout
from sichrplace.search.index.layout import RECORD
from sichrplace.search.index.snapshot import Change, Group, Snapshot
from sichrplace.search.repository.index_feed import chunk_bounds
from sichrplace.seeding import listings as seed

NOW = datetime(2026, 11, 1, tzinfo=UTC)  # the seed's default "now"
WBS_SHARE = 0.04  # as the seed (one flat in 25 needs a Wohnberechtigungsschein)
EXACT_ADDRESS_SHARE = 0.3  # as the seed (three landlords in ten show the exact address)
_TOKEN = re.compile(r"\w+")
# Frequent German stop words (a subset of Postgres's `german` list): what to_tsvector drops.
_STOP = frozenset((
    "aber", "alle", "als", "am", "an", "auch", "auf", "aus", "bei", "bis", "da", "dann", "das",
    "dass", "dem", "den", "der", "des", "die", "dies", "diese", "dieser", "ein", "eine", "einem",
    "einen", "einer", "eines", "er", "es", "für", "hat", "im", "in", "ist", "kann", "mit", "nach",
    "nicht", "noch", "nur", "oder", "sehr", "sich", "sie", "sind", "so", "über", "um", "und",
    "unter", "vom", "von", "vor", "wird", "zu", "zum", "zur", "ca", "ab",
))  # fmt: skip


@dataclass(frozen=True)
class TextPool:
    """Titles by city and title+description texts, made by the seed's own generator."""

    titles: dict[str, list[bytes]]  # city -> UTF-8 titles
    texts: list[tuple[str, str]]  # (title, title and description)


def text_pool(rows: int, seed_value: int) -> TextPool:
    titles: dict[str, list[bytes]] = {c[0]: [] for c in seed.CITIES}
    texts = []
    owner = [uuid.UUID(int=1)]
    for row in seed.generate_listings(rows, owner_ids=owner, seed=seed_value, now=NOW):
        titles[row[7]].append(str(row[2]).encode())
        texts.append((str(row[2]), f"{row[2]} {row[3]}"))
    for name, found in titles.items():
        if not found:  # a tiny pool may miss a small city
            found.append(f"Helle 2-Zimmer-Wohnung in {name}".encode())
    return TextPool(titles, texts)


def _weights(values: Sequence[float]) -> np.ndarray:
    w = np.asarray(values, dtype=np.float64)
    shares: np.ndarray = w / w.sum()
    return shares


def synthetic_records(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """`n` active listings as RECORD rows, and each one's index in seed.CITIES: the seed's
    arithmetic (generate_listings) on whole arrays, with its own weights (private there, so
    that both draw from one definition)."""
    cities = seed.CITIES
    city = rng.choice(len(cities), size=n, p=_weights([c[1] for c in cities]))
    col = {name: np.asarray([c[i] for c in cities]) for i, name in enumerate(_CITY_FIELDS)}
    room_values = np.asarray([r for _, r in seed._ROOMS])
    rooms = room_values[
        rng.choice(len(room_values), size=n, p=_weights([w for w, _ in seed._ROOMS]))
    ]
    size = np.round(np.maximum(14.0, rooms * 23 + 10 + rng.normal(0, 9, n)), 2)
    furnished = rng.random(n) < 0.12
    pets = rng.random(n) < 0.35
    wbs = rng.random(n) < WBS_SHARE
    scale = 0.7 + rooms * 0.12
    bits = np.zeros(n, dtype=np.int32)
    for i, name in enumerate(AMENITIES):
        bits |= (rng.random(n) < seed._AMENITY_P[name] * scale).astype(np.int32) << i
    premium = sum(
        (bits >> AMENITIES.index(a)) & 1 for a in ("elevator", "floor_heating", "terrace")
    )
    factor = np.exp(rng.normal(0, 0.15, n)) * np.where(furnished, 1.15, 1.0) * (1 + 0.02 * premium)
    cold = np.maximum(150, np.round(size * col["per_sqm"][city] * factor / 5) * 5).astype(np.int64)
    utilities = np.round(size * (2.2 + 1.6 * rng.random(n)) / 5).astype(np.int64) * 5
    energy = rng.choice(len(ENERGY_CLASSES), size=n, p=_weights(seed._ENERGY_WEIGHTS))
    today = (NOW.date() - layout.DATE_ZERO).days
    spread = col["radius"][city] / 2 / 111.32
    lat0, lng0 = col["lat"][city], col["lng"][city]
    now_us = int((NOW - layout.EPOCH).total_seconds()) * 1_000_000
    created = now_us - (rng.random(n) * 365 * 86400e6).astype(np.int64)
    low, high = col["plz_lo"][city], col["plz_hi"][city]

    out = np.zeros(n, dtype=RECORD)
    out["id"] = np.frombuffer(rng.bytes(16 * n), dtype="S16")
    out["postal"] = low + (rng.random(n) * (high - low + 1)).astype(np.int64)
    out["rooms2"] = np.round(rooms * 2)
    out["size100"] = np.round(size * 100)
    out["flags"] = furnished * layout.FURNISHED + pets * layout.PETS + wbs * layout.WBS
    out["cold"] = cold * 100
    out["warm"] = (cold + utilities) * 100  # warm_rent_cents: cold + utilities
    out["amenities"] = bits
    out["available"] = np.where(
        rng.random(n) < 0.15, layout.NEVER_AVAILABLE, today + (rng.random(n) * 120).astype(np.int64)
    )
    out["energy"] = np.where(rng.random(n) < 0.1, layout.NO_ENERGY_CLASS, energy)
    out["lat"] = np.round(lat0 + np.clip(rng.normal(0, 1, n), -2.5, 2.5) * spread, 6)
    out["lng"] = np.round(
        lng0 + np.clip(rng.normal(0, 1, n), -2.5, 2.5) * spread / np.cos(np.radians(lat0)), 6
    )
    out["created"] = created
    out["stamp"] = np.minimum(now_us, created + (rng.random(n) * 30 * 86400e6).astype(np.int64))
    # Drawn last: every other column is what the same generator state gave before.
    out["flags"] += (rng.random(n) < EXACT_ADDRESS_SHARE) * layout.EXACT_ADDRESS
    return out, city


_CITY_FIELDS = ("name", "weight", "lat", "lng", "radius", "per_sqm", "plz_lo", "plz_hi")


def _gather(blob: np.ndarray, start: np.ndarray, length: np.ndarray) -> bytes:
    """The byte strings blob[start:start+length], concatenated, without a Python loop."""
    offsets = np.cumsum(length) - length
    at = np.repeat(start - offsets, length) + np.arange(int(length.sum()), dtype=np.int64)
    return blob[at].tobytes()


def generate(n: int, seed_value: int, pool: TextPool) -> list[Group]:
    """`n` active listings grouped as the full load reads them: per chunk of ids
    (index_feed.chunk_bounds) one group per (city_key, city), rows in no particular order."""
    rng = np.random.default_rng(seed_value)
    records, city = synthetic_records(n, rng)
    # A chunk is a range of ids' first byte (chunk_bounds' edges).
    chunks = len(chunk_bounds(n))
    edges = [256 * i // chunks for i in range(1, chunks)]
    first = records.view(np.uint8).reshape(n, RECORD.itemsize)[:, 0]  # the id leads
    chunk = np.searchsorted(np.asarray(edges), first, side="right")
    key = chunk * len(seed.CITIES) + city
    order = np.argsort(key, kind="stable")
    bounds = np.flatnonzero(np.diff(key[order])) + 1
    pools = []
    for name, *_ in seed.CITIES:
        titles = pool.titles[name]
        length = np.asarray([len(t) for t in titles], dtype=np.int64)
        start = np.cumsum(length) - length
        pools.append((np.frombuffer(b"".join(titles), dtype=np.uint8), start, length))
    groups: list[Group] = []
    for rows in np.split(order, bounds):
        if not len(rows):
            continue
        name = seed.CITIES[int(city[rows[0]])][0]
        blob, start, length = pools[int(city[rows[0]])]
        pick = rng.integers(0, len(length), len(rows))
        lengths = length[pick]
        groups.append(
            (
                city_key(name),
                name,
                records[rows].tobytes(),
                _gather(blob, start[pick], lengths),
                lengths.astype(">i4").tobytes(),
            )
        )
    return groups


def lexemes_of(text: str) -> tuple[str, ...]:
    """About tsvector_to_array(search_tsv): the distinct words less stop words (unstemmed),
    interned as the keeper holds them."""
    words = _TOKEN.findall(text.lower())
    return tuple(dict.fromkeys(sys.intern(w) for w in words if len(w) > 1 and w not in _STOP))


def change_bytes(ident: bytes, c: Change) -> int:
    """The memory of one Change's own objects and of its key (sys.getsizeof, no allocator)."""
    parts: list[object] = [ident, c, c.status, c.pair, *c.pair, c.record, c.lexemes, c.title]
    return sum(sys.getsizeof(o) for o in parts) + sum(sys.getsizeof(w) for w in c.lexemes)


def synthetic_changes(
    snap: Snapshot, n: int, seed_value: int, pool: TextPool
) -> dict[bytes, Change]:
    """`n` changes as the keeper holds them: 70 % edits of base listings (new rent, new
    stamp), 10 % base listings leaving `active`, 20 % new listings; each with its own
    lexemes and title strings, as a read from Postgres makes them."""
    rng = np.random.default_rng(seed_value)
    base = snap.base
    rows = rng.choice(len(base), size=n, replace=False)
    records = np.zeros(n, dtype=RECORD)
    for f in layout.FIELDS:
        records[f.name] = base[f][rows]
    kind = rng.random(n)
    new = kind >= 0.8
    records["id"][new] = np.frombuffer(rng.bytes(16 * int(new.sum())), dtype="S16")
    factor = 1 + rng.normal(0, 0.05, n)
    records["cold"] = np.round(records["cold"] * factor / 500) * 500
    records["warm"] = np.round(records["warm"] * factor / 500) * 500
    now_us = int((NOW - layout.EPOCH).total_seconds()) * 1_000_000
    records["stamp"] = now_us + 1 + np.arange(n)
    records["created"][new] = records["stamp"][new]
    statuses = np.where((kind >= 0.7) & ~new, "rented", "active")
    texts = rng.integers(0, len(pool.texts), n)
    changes: dict[bytes, Change] = {}
    raw = records.tobytes()
    size = RECORD.itemsize
    for i in range(n):
        title, text = pool.texts[int(texts[i])]
        record = raw[i * size : (i + 1) * size]
        key, city = snap.pairs[int(base.pair[rows[i]])]
        changes[record[:16]] = Change(
            str(statuses[i]),
            (key.encode().decode(), city.encode().decode()),  # strings of its own too
            record,
            lexemes_of(text),
            int(records["stamp"][i]),
            title.encode().decode(),  # a string of its own, as each read makes one
        )
    return changes


# --- counts and pages ------------------------------------------------------------------
