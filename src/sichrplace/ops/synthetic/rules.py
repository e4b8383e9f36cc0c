"""The synthetic journeys' fixed vocabulary and the pure parts of recording a run: the step
names (closed sets: they are label values), a result's fields in the store and back."""

from __future__ import annotations

from collections.abc import Mapping

import orjson

from sichrplace.ops.synthetic.records import JourneyResult, Stored

# Journey -> its steps, in order: the metrics' `journey` and `step` label values.
STEPS: dict[str, tuple[str, ...]] = {
    "search": ("search", "listing"),
    "payment": ("slot", "book", "intent", "approve", "confirm"),
    "contract": ("create", "send", "tenant_sign", "landlord_sign"),
}
JOURNEYS: tuple[str, ...] = tuple(STEPS)
ERROR_MAX = 300  # characters of an error kept with the result


def check_journey(name: str) -> str:
    if name not in STEPS:
        raise ValueError(f"unknown journey {name!r}: one of {', '.join(JOURNEYS)}")
    return name


def result_fields(result: JourneyResult) -> dict[str, bytes]:
    """The latest-result fields one run writes (its counters are incremented beside them)."""
    fields = {
        "ok": b"1" if result.ok else b"0",
        "finished_at": repr(result.finished_at).encode(),
        "seconds": repr(result.seconds).encode(),
        "steps": orjson.dumps({s.name: s.seconds for s in result.steps}),
        "failed_step": (result.failed_step or "").encode(),
        "error": (result.error or "")[:ERROR_MAX].encode(),
    }
    if result.ok:
        fields["last_success_at"] = fields["finished_at"]
    return fields


def _text(raw: Mapping[bytes, bytes], key: str) -> str:
    return raw.get(key.encode(), b"").decode()


def stored(journey: str, raw: Mapping[bytes, bytes]) -> Stored | None:
    """A journey's stored hash read back; None when it never ran (or a field is broken)."""
    if not raw.get(b"finished_at"):
        return None
    try:
        steps = {
            str(k): float(v)
            for k, v in orjson.loads(raw.get(b"steps", b"{}")).items()
            if k in STEPS[journey]  # label values stay the code's closed set
        }
        last_success = _text(raw, "last_success_at")
        failed = _text(raw, "failed_step")
        return Stored(
            journey=journey,
            ok=raw.get(b"ok") == b"1",
            finished_at=float(_text(raw, "finished_at")),
            seconds=float(_text(raw, "seconds") or 0),
            steps=steps,
            failed_step=failed if failed in STEPS[journey] else None,
            error=_text(raw, "error") or None,
            last_success_at=float(last_success) if last_success else None,
            consecutive_failures=int(_text(raw, "consecutive_failures") or 0),
            runs_succeeded=int(_text(raw, "runs_succeeded") or 0),
            runs_failed=int(_text(raw, "runs_failed") or 0),
        )
    except (ValueError, orjson.JSONDecodeError):
        return None
