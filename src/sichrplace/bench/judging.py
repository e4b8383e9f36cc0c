"""The verdict and the table of the open-model benchmarks (`bench booking`, `bench messaging`):
targets on p95 against a ceiling of the same run, checks that must count zero."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any


def saturated(op: str) -> str:
    """The name of an operation's figures in the capacity phase (judged by nothing)."""
    return f"{op}_at_capacity"


def verdicts(
    median: Mapping[str, Mapping[str, float]],
    checks: Mapping[str, int],
    requests: Mapping[str, int],
    *,
    targets: Mapping[str, tuple[str, float]],
    check_names: Sequence[str],
) -> dict[str, Any]:
    """Each target (operation: its ceiling and p95 in ms) and each check, and whether all hold."""
    out: dict[str, Any] = {"targets": {}, "checks": {}}
    for op, (ceiling, target) in targets.items():
        m, c = median[op], median[ceiling]
        out["targets"][op] = {
            "ceiling": ceiling,
            "p95_target_ms": target,
            # Nothing measured is no figure, not a pass.
            "p95_ok": requests.get(op, 0) > 0 and m["p95_ms"] <= target,
            "p95_ratio": round(m["p95_ms"] / c["p95_ms"], 2) if c["p95_ms"] else None,
            "rps_ratio": round(m["rps"] / c["rps"], 3) if c["rps"] else None,
        }
    for name in check_names:
        out["checks"][name] = {"count": checks.get(name, 0), "ok": checks.get(name, 0) == 0}
    out["passed"] = all(v["p95_ok"] for v in out["targets"].values()) and all(
        v["ok"] for v in out["checks"].values()
    )
    return out


def table(
    median: Mapping[str, Mapping[str, float]],
    verdict: Mapping[str, Any],
    *,
    ops: Sequence[str],
    ceilings: Sequence[str],
    rate: str,
    width: int,
    checked_over: str,
) -> str:
    """The medians per operation, ceiling and capacity phase, the targets and the checks."""
    head = (
        f"{'operation':{width}s} {rate:>8s} {'p50 ms':>8s} {'p95 ms':>8s} {'p99 ms':>8s} "
        f"{'errors':>6s}  {'ceiling':8s} {'p95/ceil':>8s}  {'target':<16s}"
    )
    lines = [head, "-" * len(head)]
    for op in (*ops, *ceilings, *(saturated(o) for o in ops)):
        if op not in median:
            continue
        m = median[op]
        v = verdict["targets"].get(op, {})
        target = ""
        if v:
            target = f"p95<={v['p95_target_ms']:g} {'ok' if v['p95_ok'] else 'MISS'}"
        ratio = f"{v['p95_ratio']:.2f}" if v.get("p95_ratio") is not None else ""
        name = f"{op} (ceiling)" if op in ceilings else op
        lines.append(
            f"{name:{width}s} {m['rps']:8.1f} {m['p50_ms']:8.2f} {m['p95_ms']:8.2f} "
            f"{m['p99_ms']:8.2f} {int(m['errors']):6d}  {v.get('ceiling', ''):8s} {ratio:>8s}"
            f"  {target:<16s}"
        )
    lines.append("")
    lines.append(
        f"checks over all {checked_over}: "
        + ", ".join(
            f"{name} {c['count']} {'ok' if c['ok'] else 'FAIL'}"
            for name, c in verdict["checks"].items()
        )
    )
    lines.append("verdict: " + ("PASS" if verdict["passed"] else "FAIL"))
    return "\n".join(lines)
