"""The record layout: one listing as the in-process index holds it, defined once.

Each `Field` says how Postgres writes it into a listing's fixed-width binary record (the SQL
that reads records, search/repository/index.py) and how the index keeps it (numpy arrays,
`Columns`). Nothing else knows where a field sits in a record: the SQL, the `RECORD` dtype
that parses it and the columns are all made from `FIELDS`. A filter that reads a new column
adds its field here (search/filters.py declares which fields each filter tests).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime

import numpy as np

from sichrplace.listings.vocabulary import AMENITIES, ENERGY_CLASSES

DATE_ZERO = date(2000, 1, 1)  # `available` counts days from it
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)  # `created` counts microseconds from it
NEVER_AVAILABLE = 2**31 - 1  # available_from NULL: `<=` any day is false, as in SQL
NO_ENERGY_CLASS = 127  # energy_class NULL: above every class, so no maximum admits it
# A listing's version: changed_at in microseconds (0 before its first change).
STAMP_SQL = "coalesce((extract(epoch FROM l.changed_at) * 1000000)::int8, 0)"
CREATED_SQL = "(extract(epoch FROM l.created_at) * 1000000)::int8"
# Bits of the `flags` field.
FURNISHED, PETS, WBS = 1, 2, 4
EXACT_ADDRESS = 8  # the landlord shows the exact address: items carry exact coordinates


@dataclass(frozen=True, slots=True)
class Field:
    """One field of the record: its name, the SQL that writes its bytes (big-endian, as
    Postgres's *send functions do), its dtype in the record and in the index's arrays."""

    name: str
    sql: str
    wire: str
    native: str


def _amenity_bits() -> str:
    bits = " | ".join(
        f"(CASE WHEN '{name}' = ANY(l.amenities) THEN {1 << i} ELSE 0 END)"
        for i, name in enumerate(AMENITIES)
    )
    return f"int4send({bits or '0'})"


def _energy_codes() -> str:
    cases = " ".join(f"WHEN '{name}' THEN {code}" for code, name in enumerate(ENERGY_CLASSES))
    return f"int2send(CASE l.energy_class {cases} ELSE {NO_ENERGY_CLASS} END::int2)"


ID = Field("id", "uuid_send(l.id)", "S16", "S16")
POSTAL = Field("postal", "int4send(l.postal_code::int4)", ">i4", "i4")
ROOMS2 = Field("rooms2", "int2send((l.rooms * 2)::int2)", ">i2", "i2")
SIZE100 = Field("size100", "int4send((l.size_sqm * 100)::int4)", ">i4", "i4")
FLAGS = Field(
    "flags",
    "int2send((l.furnished::int + 2 * l.pets_allowed::int + 4 * l.wbs_required::int"
    " + 8 * l.show_exact_address::int)::int2)",
    ">i2",
    "i2",
)
# Rents widened to int64 in the arrays (sums of a million rents).
WARM = Field("warm", "int4send(l.warm_rent_cents)", ">i4", "i8")
COLD = Field("cold", "int4send(l.cold_rent_cents)", ">i4", "i8")
AMENITY_BITS = Field("amenities", _amenity_bits(), ">i4", "i4")  # bit i: AMENITIES[i]
AVAILABLE = Field(
    "available",
    f"int4send(coalesce(l.available_from - DATE '2000-01-01', {NEVER_AVAILABLE}))",
    ">i4",
    "i4",
)
ENERGY = Field("energy", _energy_codes(), ">i2", "i2")  # index in ENERGY_CLASSES
# Coordinates: NULL as NaN, outside every box.
LAT = Field("lat", "float8send(coalesce(l.latitude, 'NaN'))", ">f8", "f8")
LNG = Field("lng", "float8send(coalesce(l.longitude, 'NaN'))", ">f8", "f8")
STAMP = Field("stamp", f"int8send({STAMP_SQL})", ">i8", "i8")
CREATED = Field("created", f"int8send({CREATED_SQL})", ">i8", "i8")  # the newest-first key

FIELDS: tuple[Field, ...] = (
    ID, POSTAL, ROOMS2, SIZE100, FLAGS, WARM, COLD, AMENITY_BITS, AVAILABLE, ENERGY, LAT, LNG,
    STAMP, CREATED,
)  # fmt: skip
RECORD = np.dtype([(f.name, f.wire) for f in FIELDS])


def record_sql() -> str:
    """The SQL expression of a listing's record (`l` is the listings table)."""
    return " || ".join(f.sql for f in FIELDS)


def empty_records() -> np.ndarray:
    return np.zeros(0, dtype=RECORD)


@dataclass(frozen=True, slots=True)
class Columns:
    """Listings as arrays, one per field (native byte order), and `pair`: each row's
    (city_key, city) code in the snapshot that holds them."""

    arrays: Mapping[str, np.ndarray]
    pair: np.ndarray

    @classmethod
    def from_records(cls, records: np.ndarray, pair: np.ndarray) -> Columns:
        arrays = {f.name: np.ascontiguousarray(records[f.name], dtype=f.native) for f in FIELDS}
        return cls(arrays, pair.astype(np.int32))

    @classmethod
    def empty(cls) -> Columns:
        return cls.from_records(empty_records(), np.zeros(0, dtype=np.int32))

    def __getitem__(self, field: Field | str) -> np.ndarray:
        return self.arrays[field if isinstance(field, str) else field.name]

    def __len__(self) -> int:
        return len(self.arrays[ID.name])

    def __iter__(self) -> Iterator[str]:
        return iter(self.arrays)

    @property
    def ids(self) -> np.ndarray:
        return self.arrays[ID.name]
