"""Every search filter, declared once.

A filter says, in one place: its query parameter and validation, its SQL predicate, its test
over the in-process index's columns (search/index/), the selectivity estimate the Postgres
planner's advice uses (search/plans/: by default the share of the plan sample its test
passes), and how to draw random values of it for the index-vs-Postgres differential tests.
The query-string model (search/params.py), the SQL where-clause (search/repository/where.py),
the index's tests (search/index/query.py) and the estimates are all built from `FILTERS`, and
the differential tests iterate over it: a filter added here is searched, counted, estimated
and tested everywhere. Structural filters (city, full text, radius, box, rent type) shape the
plans themselves and are handled where they are used.

To add a filter: its column and migration, its field in search/index/layout.py if the index
needs a new one, and one entry below.
"""

from __future__ import annotations

import math
import random
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from datetime import date, timedelta
from decimal import Decimal
from typing import Annotated, Any, Generic, Literal, TypeVar, cast

import numpy as np
from pydantic import BeforeValidator
from pydantic import Field as Param
from pydantic.fields import FieldInfo

from sichrplace.kit.i18n import N_, Msg
from sichrplace.listings.schemas import iso_day
from sichrplace.listings.vocabulary import AMENITIES, ENERGY_CLASSES, MAX_CENTS
from sichrplace.search.index import layout
from sichrplace.search.index.layout import Columns

V = TypeVar("V")
RentType = Literal["cold", "warm"]
Rows = slice | np.ndarray  # rows of a segment of the index: a slice, or positions
Test = Callable[[Rows], np.ndarray]  # which of the rows pass


def _param(**constraints: Any) -> FieldInfo:
    """An optional query parameter with its constraints (Pydantic `Field`)."""
    return cast(FieldInfo, Param(None, **constraints))


class SqlParams:
    """Bound values of one statement: `bind` names a value and gives its placeholder."""

    def __init__(self, params: dict[str, Any]) -> None:
        self.values = params

    def bind(self, name: str, value: Any) -> str:
        self.values[name] = value
        return f":{name}"


class Filter(ABC, Generic[V]):
    """One filter of /search/listings and /search/facets (see the module docstring)."""

    name: str  # the query parameter
    # Checked on the covering keyset indexes' tuples (their INCLUDE lists: migrations 0005,
    # 0007, 0008, 0014), so a statement can reject rows without visiting the table.
    indexed: bool = True
    # A bound on the rent: the rent-ordered plans handle these themselves.
    rent: bool = False

    @abstractmethod
    def param(self) -> tuple[Any, FieldInfo]:
        """The query parameter's type and validation (Pydantic)."""

    def normalise(self, value: Any) -> V | None:
        """The filter's value from the validated parameter (None: not filtered)."""
        return value  # type: ignore[no-any-return]

    def check(self, values: Mapping[str, Any]) -> tuple[str, Msg] | None:
        """A rule across parameters: (field, message) when `values` break it."""
        return None

    @abstractmethod
    def sql(self, value: V, params: SqlParams, rent_type: RentType) -> str:
        """The predicate on `l` (listings) for `value`."""

    @abstractmethod
    def test(self, value: V, cols: Columns, rent_type: RentType) -> Test:
        """Which rows of `cols` pass, as the SQL predicate decides."""

    @abstractmethod
    def random(self, rng: random.Random) -> str:
        """A random value as a client sends it (differential tests)."""

    def canonical(self, value: V) -> str:
        """The value in cache keys and cursor fingerprints."""
        return str(value)


def _rent_array(cols: Columns, rent_type: RentType) -> np.ndarray:
    return cols[layout.WARM if rent_type == "warm" else layout.COLD]


class RentBound(Filter[int]):
    """min_rent / max_rent: cents of the warm or cold rent (rent_type)."""

    rent = True

    def __init__(self, name: str, *, lower: bool) -> None:
        self.name, self.lower = name, lower

    def param(self) -> tuple[Any, FieldInfo]:
        return int | None, _param(ge=0, le=MAX_CENTS, description="cents")

    def check(self, values: Mapping[str, Any]) -> tuple[str, Msg] | None:
        low, high = values.get("min_rent"), values.get("max_rent")
        if self.lower and low is not None and high is not None and low > high:
            return "min_rent", N_("must not be greater than {other}", other="max_rent")
        return None

    def sql(self, value: int, params: SqlParams, rent_type: RentType) -> str:
        column = "warm_rent_cents" if rent_type == "warm" else "cold_rent_cents"
        return f"l.{column} {'>=' if self.lower else '<='} {params.bind(self.name, value)}"

    def test(self, value: int, cols: Columns, rent_type: RentType) -> Test:
        rent = _rent_array(cols, rent_type)
        if self.lower:
            return lambda r: rent[r] >= value
        return lambda r: rent[r] <= value

    def random(self, rng: random.Random) -> str:
        low = (40_000, 48_000, 50_000, 62_000, 70_000)
        high = (60_000, 79_999, 80_000, 120_000, 180_000)
        return str(rng.choice(low if self.lower else high))


class Measure(Filter[Decimal]):
    """A numeric(…) column bounded from below or above (rooms, m²); the index holds it
    scaled to an integer, so a bound rounds inwards (2.3 rooms: at least 2.5)."""

    def __init__(
        self,
        name: str,
        *,
        column: str,
        field: layout.Field,
        scale: int,
        lower: bool,
        other: str,
        limit: float,
        choices: tuple[str, ...],
        description: str | None = None,
    ) -> None:
        self.name, self.column, self.field, self.scale = name, column, field, scale
        self.lower, self.other, self.limit, self.choices = lower, other, limit, choices
        self.description = description

    def param(self) -> tuple[Any, FieldInfo]:
        return float | None, _param(ge=0, le=self.limit, description=self.description)

    def normalise(self, value: Any) -> Decimal | None:
        return None if value is None else Decimal(str(value))

    def check(self, values: Mapping[str, Any]) -> tuple[str, Msg] | None:
        low, high = (values.get(self.name), values.get(self.other))
        if self.lower and low is not None and high is not None and low > high:
            return self.name, N_("must not be greater than {other}", other=self.other)
        return None

    def sql(self, value: Decimal, params: SqlParams, rent_type: RentType) -> str:
        return f"l.{self.column} {'>=' if self.lower else '<='} {params.bind(self.name, value)}"

    def test(self, value: Decimal, cols: Columns, rent_type: RentType) -> Test:
        column = cols[self.field]
        if self.lower:
            least = math.ceil(value * self.scale)
            return lambda r: column[r] >= least
        most = math.floor(value * self.scale)
        return lambda r: column[r] <= most

    def random(self, rng: random.Random) -> str:
        return rng.choice(self.choices)


class PostalCode(Filter[str]):
    indexed = False  # not in the covering indexes (its own index finds the rows)
    name = "postal_code"

    def param(self) -> tuple[Any, FieldInfo]:
        return str | None, _param(pattern=r"^[0-9]{5}$")

    def sql(self, value: str, params: SqlParams, rent_type: RentType) -> str:
        return f"l.postal_code = {params.bind(self.name, value)}"

    def test(self, value: str, cols: Columns, rent_type: RentType) -> Test:
        postal, wanted = cols[layout.POSTAL], int(value)
        return lambda r: postal[r] == wanted

    def random(self, rng: random.Random) -> str:
        return rng.choice(("10115", "10117", "20095"))


class Flag(Filter[bool]):
    """A yes/no property: true finds the listings that have it, false those that don't."""

    def __init__(self, name: str, *, column: str, bit: int, description: str | None = None):
        self.name, self.column, self.bit, self.description = name, column, bit, description

    def param(self) -> tuple[Any, FieldInfo]:
        return bool | None, _param(description=self.description)

    def sql(self, value: bool, params: SqlParams, rent_type: RentType) -> str:
        return f"l.{self.column} = {params.bind(self.name, value)}"

    def test(self, value: bool, cols: Columns, rent_type: RentType) -> Test:
        flags, bit = cols[layout.FLAGS], self.bit
        return lambda r: ((flags[r] & bit) != 0) == value

    def random(self, rng: random.Random) -> str:
        return rng.choice(("true", "false"))

    def canonical(self, value: bool) -> str:
        return "True" if value else "False"


class Amenities(Filter[tuple[str, ...]]):
    """A comma list of amenities; a listing must have all of them."""

    name = "amenities"

    def param(self) -> tuple[Any, FieldInfo]:
        return str | None, _param(description="comma list; all must match")

    def normalise(self, value: Any) -> tuple[str, ...] | None:
        if value is None:
            return None
        names = {a.strip().lower() for a in str(value).split(",") if a.strip()}
        return tuple(sorted(names)) or None

    def check(self, values: Mapping[str, Any]) -> tuple[str, Msg] | None:
        unknown = sorted(set(values.get(self.name) or ()) - set(AMENITIES))
        if unknown:
            return self.name, N_("unknown amenity: {names}", names=", ".join(unknown))
        return None

    def sql(self, value: tuple[str, ...], params: SqlParams, rent_type: RentType) -> str:
        return f"l.amenities @> CAST({params.bind(self.name, list(value))} AS text[])"

    def test(self, value: tuple[str, ...], cols: Columns, rent_type: RentType) -> Test:
        need = 0
        for name in value:
            need |= 1 << AMENITIES.index(name)
        bits = cols[layout.AMENITY_BITS]
        return lambda r: (bits[r] & need) == need

    def random(self, rng: random.Random) -> str:
        return ",".join(rng.sample(AMENITIES, rng.randint(1, 2)))

    def canonical(self, value: tuple[str, ...]) -> str:
        return ",".join(value)


class AvailableBy(Filter[date]):
    """Listings available on or before this day (one without a date never is)."""

    name = "available_from"

    def param(self) -> tuple[Any, FieldInfo]:
        return Annotated[date, BeforeValidator(iso_day)] | None, _param(
            description="available on or before this day"
        )

    def sql(self, value: date, params: SqlParams, rent_type: RentType) -> str:
        return f"l.available_from <= {params.bind(self.name, value)}"

    def test(self, value: date, cols: Columns, rent_type: RentType) -> Test:
        days, day = cols[layout.AVAILABLE], (value - layout.DATE_ZERO).days
        return lambda r: days[r] <= day

    def random(self, rng: random.Random) -> str:
        return (date.today() + timedelta(days=rng.randint(-30, 60))).isoformat()


class EnergyClassMax(Filter[str]):
    """The worst energy efficiency class accepted (Energieausweis, A+ best … H worst):
    "C" finds A+, A, B and C; a listing without a class is not found."""

    name = "energy_class_max"

    def param(self) -> tuple[Any, FieldInfo]:
        classes = ", ".join(ENERGY_CLASSES)
        # Case and surrounding blanks do not matter (normalise); the schema says as much.
        return str | None, _param(
            description=f"worst class accepted: one of {classes}",
            json_schema_extra={"pattern": r"^\s*(?:[Aa]\+|[A-Ha-h])\s*$"},
        )

    def normalise(self, value: Any) -> str | None:
        return None if value is None else str(value).strip().upper()

    def check(self, values: Mapping[str, Any]) -> tuple[str, Msg] | None:
        value = values.get(self.name)
        if value is not None and value not in ENERGY_CLASSES:
            return self.name, N_("must be one of {values}", values=", ".join(ENERGY_CLASSES))
        return None

    def sql(self, value: str, params: SqlParams, rent_type: RentType) -> str:
        accepted = list(ENERGY_CLASSES[: ENERGY_CLASSES.index(value) + 1])
        return f"l.energy_class = ANY(CAST({params.bind(self.name, accepted)} AS text[]))"

    def test(self, value: str, cols: Columns, rent_type: RentType) -> Test:
        codes, worst = cols[layout.ENERGY], ENERGY_CLASSES.index(value)
        return lambda r: codes[r] <= worst

    def random(self, rng: random.Random) -> str:
        return rng.choice(ENERGY_CLASSES)


MIN_RENT = RentBound("min_rent", lower=True)
MAX_RENT = RentBound("max_rent", lower=False)
_ROOMS = ("1.5", "2", "2.3", "2.5", "3", "3.7", "4")
_SIZES = ("28.5", "45", "62.25", "62.26", "80", "95.5")
MIN_ROOMS = Measure(
    "min_rooms", column="rooms", field=layout.ROOMS2, scale=2, lower=True, other="max_rooms",
    limit=100, choices=_ROOMS,
)  # fmt: skip
MAX_ROOMS = Measure(
    "max_rooms", column="rooms", field=layout.ROOMS2, scale=2, lower=False, other="min_rooms",
    limit=100, choices=_ROOMS,
)  # fmt: skip
MIN_SIZE = Measure(
    "min_size", column="size_sqm", field=layout.SIZE100, scale=100, lower=True,
    other="max_size", limit=100_000, choices=_SIZES, description="m²",
)  # fmt: skip
MAX_SIZE = Measure(
    "max_size", column="size_sqm", field=layout.SIZE100, scale=100, lower=False,
    other="min_size", limit=100_000, choices=_SIZES, description="m²",
)  # fmt: skip
POSTAL_CODE = PostalCode()
FURNISHED = Flag("furnished", column="furnished", bit=layout.FURNISHED)
PETS_ALLOWED = Flag("pets_allowed", column="pets_allowed", bit=layout.PETS)
WBS_REQUIRED = Flag(
    "wbs_required",
    column="wbs_required",
    bit=layout.WBS,
    description="true: only flats that need a Wohnberechtigungsschein; false: only the others",
)
AMENITY_FILTER = Amenities()
AVAILABLE_BY = AvailableBy()
ENERGY_CLASS_MAX = EnergyClassMax()

# In the order of the query string's documentation and of cache keys.
FILTERS: tuple[Filter[Any], ...] = (
    POSTAL_CODE, MIN_RENT, MAX_RENT, MIN_ROOMS, MAX_ROOMS, MIN_SIZE, MAX_SIZE, FURNISHED,
    PETS_ALLOWED, WBS_REQUIRED, AMENITY_FILTER, AVAILABLE_BY, ENERGY_CLASS_MAX,
)  # fmt: skip
BY_NAME: dict[str, Filter[Any]] = {f.name: f for f in FILTERS}
RENT_FILTERS = tuple(f for f in FILTERS if f.rent)
