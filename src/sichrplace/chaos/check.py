"""One invariant's verdict (`Check`) and the small helpers the checks share."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import psycopg

FIRST = 5  # offending ids reported per check


@dataclass(frozen=True, slots=True)
class Check:
    """One invariant's verdict: `checked` things looked at, `offending` of them broke it,
    `first` names the first few (ids, or `key:<k>` for a key answered with two ids)."""

    name: str
    checked: int
    offending: int
    first: tuple[str, ...] = ()
    note: str = ""

    @property
    def held(self) -> bool:
        return self.offending == 0

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "first": list(self.first), "held": self.held}


def verdict(name: str, checked: int, bad: Sequence[str], note: str = "") -> Check:
    """A check from the list of offenders (each named once, in the order found)."""
    unique = list(dict.fromkeys(str(b) for b in bad))
    return Check(name, checked, len(unique), tuple(unique[:FIRST]), note)


def rows(conn: psycopg.Connection, sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
    """The rows of one read, its transaction ended (a check that waits must see new commits)."""
    found = conn.execute(sql, params).fetchall()
    conn.rollback()
    return found
