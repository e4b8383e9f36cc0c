"""`sichrplace stack canary`: one extra API instance on a new version takes a share of the
requests; Prometheus compares it with the stable instances over a window; it is promoted (the
release of the version on the stable instances) or rolled back (removed), automatically.

Order: the canary starts out of nginx's upstream (`down`), becomes ready, is added to
Prometheus's targets (label `track="canary"`, the stable ones `track="stable"`) and scraped
once, and only then gets its weight in nginx: its counters start near zero, so a window's
`increase()` sees its every request. Every scrape interval the error ratios are compared
(early abort); at the window's end the p95 latencies too. The requests it served and failed
are counted from nginx's JSON access log, by its address in the `upstream` field.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from sichrplace.config import Settings
from sichrplace.stack import observability, releases, rolling, supervisor
from sichrplace.stack.layout import Layout
from sichrplace.stack.release import release as roll_release
from sichrplace.stack.releases import Canary, Release, ReleaseError
from sichrplace.stack.render import api_ports
from sichrplace.stack.rolling import NotReady, Say

# Probes and scrapes are not the traffic being judged.
_NOT_TRAFFIC = "/healthz|/readyz|/metrics"
# Early abort: at least this many canary errors, and the 95 % lower bound of its error
# ratio above the limit (a few unlucky requests do not end a canary; a broken route does).
EARLY_MIN_ERRORS = 5
WILSON_Z = 1.96
# Weighted least_conn gives the canary its share while it answers like the others; a canary
# that answers faster (or fails fast) gets somewhat more. The failure bound allows for that.
SHARE_TOLERANCE = 1.5


@dataclass(frozen=True)
class Limits:
    """When a canary fails: its 5xx share above the stable one's by more than
    `max_error_ratio`, or its p95 above `max_p95_ratio` times the stable p95 (and more than
    `p95_slack_s` above it: a cold canary's first queries are slower by tens of ms)."""

    max_error_ratio: float = 0.01
    max_p95_ratio: float = 1.5
    p95_slack_s: float = 0.05
    min_requests: int = 20


@dataclass(frozen=True)
class TrackStats:
    requests: float
    errors: float
    p95_s: float | None

    @property
    def error_ratio(self) -> float:
        return self.errors / self.requests if self.requests > 0 else 0.0


@dataclass(frozen=True)
class Decision:
    action: str  # "continue", "promote" or "rollback"
    reason: str


def wilson_lower(errors: float, requests: float, z: float = WILSON_Z) -> float:
    """The lower bound of the Wilson score interval of a ratio (0 without requests)."""
    if requests <= 0:
        return 0.0
    p = min(1.0, errors / requests)
    centre = p + z * z / (2 * requests)
    spread = z * math.sqrt(p * (1 - p) / requests + z * z / (4 * requests * requests))
    return max(0.0, (centre - spread) / (1 + z * z / requests))


def judge(canary: TrackStats, stable: TrackStats, limits: Limits, *, final: bool) -> Decision:
    allowed = stable.error_ratio + limits.max_error_ratio
    ratio = f"5xx {canary.error_ratio:.1%} vs stable {stable.error_ratio:.1%}"
    if canary.errors >= EARLY_MIN_ERRORS and wilson_lower(canary.errors, canary.requests) > allowed:
        return Decision("rollback", f"errors clearly over the limit: {ratio}")
    if not final:
        return Decision("continue", ratio)
    if canary.requests < limits.min_requests:
        return Decision("rollback", f"too few requests to judge ({canary.requests:.0f})")
    if canary.error_ratio > allowed:
        return Decision("rollback", f"errors over the limit: {ratio}")
    if canary.p95_s is not None and stable.p95_s is not None:
        bound = max(stable.p95_s * limits.max_p95_ratio, stable.p95_s + limits.p95_slack_s)
        if canary.p95_s > bound:
            return Decision(
                "rollback",
                f"p95 {canary.p95_s * 1000:.0f} ms over {bound * 1000:.0f} ms"
                f" (stable {stable.p95_s * 1000:.0f} ms)",
            )
    return Decision("promote", f"{ratio}, p95 {_ms(canary.p95_s)} vs {_ms(stable.p95_s)}")


def _ms(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds * 1000:.0f} ms"


@dataclass(frozen=True)
class LogCount:
    """nginx's view of the canary's period: requests sent to an instance, those the canary
    answered, and its 5xx answers."""

    proxied: int
    canary: int
    canary_failed: int

    @property
    def share(self) -> float:
        return self.canary / self.proxied if self.proxied else 0.0


def count_log(path: Path, offset: int, canary_address: str) -> LogCount:
    """Count the JSON access log's lines written after `offset`."""
    proxied = canary = failed = 0
    with path.open("rb") as log:
        if log.seek(0, 2) < offset:  # rotated meanwhile: all of the new file
            offset = 0
        log.seek(offset)
        for raw in log:
            try:
                entry = json.loads(raw)
            except ValueError:
                continue
            upstream = str(entry.get("upstream", ""))
            if not upstream or upstream == "-":
                continue
            proxied += 1
            # Retried requests list every address tried; the last one answered.
            if upstream.split(",")[-1].strip() == canary_address:
                canary += 1
                failed += int(entry.get("status", 0)) >= 500
    return LogCount(proxied, canary, failed)


def failure_bound(weight: int, proxied: int) -> int:
    """The most failed requests a canary at `weight` % may cost: its share of the requests."""
    return math.ceil(weight / 100 * proxied * SHARE_TOLERANCE)


@dataclass
class Report:
    release: Release
    weight: int
    decision: Decision = field(default_factory=lambda: Decision("rollback", "not started"))
    decided_after_s: float = 0.0
    canary: TrackStats | None = None
    stable: TrackStats | None = None
    log: LogCount | None = None
    promoted: list[rolling.Timing] = field(default_factory=list)

    @property
    def bound(self) -> int:
        return failure_bound(self.weight, self.log.proxied if self.log else 0)

    def lines(self) -> list[str]:
        out = [f"verdict: {self.decision.action} after {self.decided_after_s:.1f}s"]
        out.append(f"  why: {self.decision.reason}")
        for name, stats in (("canary", self.canary), ("stable", self.stable)):
            if stats is not None:
                out.append(
                    f"  {name}: {stats.requests:.0f} requests, {stats.errors:.0f} 5xx"
                    f" ({stats.error_ratio:.1%}), p95 {_ms(stats.p95_s)} (Prometheus)"
                )
        if self.log is not None:
            out.append(
                f"  nginx: {self.log.proxied} requests proxied, {self.log.canary} to the canary"
                f" ({self.log.share:.1%}, weight {self.weight} %),"
                f" {self.log.canary_failed} failed (bound {self.bound})"
            )
        out += [f"  promoted {t.line()}" for t in self.promoted]
        return out


def _prometheus(settings: Settings) -> str:
    return f"http://127.0.0.1:{settings.stack.prometheus_port}"


def _query(settings: Settings, promql: str) -> dict[str, float | None]:
    resp = httpx.get(f"{_prometheus(settings)}/api/v1/query", params={"query": promql}, timeout=5)
    resp.raise_for_status()
    out: dict[str, float | None] = {}
    for item in resp.json()["data"]["result"]:
        value = float(item["value"][1])
        out[str(item["metric"].get("track", ""))] = None if math.isnan(value) else value
    return out


def window_stats(settings: Settings, seconds: int) -> tuple[TrackStats, TrackStats]:
    """(canary, stable) over the last `seconds`, from Prometheus."""
    sel = f'job="api",route!~"{_NOT_TRAFFIC}"'
    requests = "sichrplace_http_requests_total"
    total = _query(settings, f"sum by (track) (increase({requests}{{{sel}}}[{seconds}s]))")
    errors = _query(
        settings,
        f'sum by (track) (increase({requests}{{{sel},status=~"5.."}}[{seconds}s]))',
    )
    p95 = _query(
        settings,
        "histogram_quantile(0.95, sum by (track, le) "
        f"(rate(sichrplace_http_request_duration_seconds_bucket{{{sel}}}[{seconds}s])))",
    )

    def track(name: str) -> TrackStats:
        return TrackStats(total.get(name) or 0.0, errors.get(name) or 0.0, p95.get(name))

    return track("canary"), track("stable")


def _update_prometheus(settings: Settings, layout: Layout) -> None:
    """Re-render prometheus.yml (the canary's target follows the state) and reload it."""
    workers = len(rolling.numbered(layout, "worker")) or settings.stack.workers
    ports = api_ports(settings, rolling.instance_count(settings, layout))
    text = observability.prometheus_config(settings, layout, ports, workers)
    path = layout.conf / "prometheus.yml"
    tmp = path.with_suffix(".yml.tmp")
    tmp.write_text(text)
    tmp.replace(path)
    httpx.post(f"{_prometheus(settings)}/-/reload", timeout=10).raise_for_status()


def _wait_scraped(settings: Settings, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if _query(settings, 'up{job="api",track="canary"} == 1'):
            return
        time.sleep(0.5)
    raise NotReady(f"Prometheus did not scrape the canary within {timeout:.0f}s")


def remove(settings: Settings, layout: Layout, say: Say = rolling.quiet) -> None:
    """The canary out of nginx, drained, stopped, out of supervisord and Prometheus."""
    state = releases.load_state(layout)
    port = releases.canary_port(settings)
    state.canary = None
    state.down = [p for p in state.down if p != port]
    releases.save_state(layout, state)
    rolling.reload_nginx(settings, layout)
    drained_s, _ = rolling.wait_drained(port, rolling.DRAIN_TIMEOUT_S)
    supervisor.stop(layout, releases.CANARY_PROGRAM)
    rolling.rewrite_supervisor_conf(settings, layout)
    supervisor.ctl(layout, "update", releases.CANARY_PROGRAM)  # gone from the config: removed
    _update_prometheus(settings, layout)
    say(f"canary removed (drained {drained_s:.1f}s)")


def _start(
    settings: Settings,
    layout: Layout,
    target: Release,
    weight: int,
    say: Say,
    warm_timeout: float = rolling.WARM_TIMEOUT_S,
) -> None:
    state = releases.load_state(layout)
    if state.canary is not None:
        raise ReleaseError("a canary is already running (`stack canary --abort` removes it)")
    port = releases.canary_port(settings)
    state.canary = Canary(target.id, weight)
    state.down = sorted({*state.down, port})  # in the upstream only once judged ready
    releases.save_state(layout, state)
    rolling.rewrite_supervisor_conf(settings, layout)
    supervisor.ctl(layout, "update", releases.CANARY_PROGRAM, check=True)
    started = time.monotonic()
    try:
        supervisor.start(layout, releases.CANARY_PROGRAM)
    except RuntimeError as exc:
        raise NotReady(f"the canary did not start: {exc}") from exc
    rolling.wait_ready(releases.CANARY_PROGRAM, port, rolling.READY_TIMEOUT_S)
    # Judged warm, as the stable instances are (a cold one's facets come from Postgres).
    rolling.wait_warm(port, warm_timeout)
    _update_prometheus(settings, layout)
    _wait_scraped(settings)
    say(
        f"canary {releases.describe(layout, target.id)} ready on :{port} after"
        f" {time.monotonic() - started:.1f}s, scraped"
    )


def run(
    settings: Settings,
    layout: Layout,
    target: Release,
    *,
    weight: int,
    window_s: float,
    limits: Limits,
    say: Say = rolling.quiet,
    check_every_s: float = 5.0,
) -> Report:
    """Start, judge, and promote or roll back the canary of `target`."""
    report = Report(target, weight)
    access_log = layout.logs / "nginx-access.log"
    try:
        _start(settings, layout, target, weight, say)
    except (NotReady, RuntimeError, httpx.HTTPError) as exc:
        report.decision = Decision("rollback", f"canary not started: {exc}")
        remove(settings, layout, say)
        return report
    offset = access_log.stat().st_size if access_log.exists() else 0
    started = time.monotonic()
    try:
        rolling.set_down(settings, layout, releases.canary_port(settings), False)
        say(f"canary in nginx at {weight} %, judged over {window_s:.0f}s")
        report.decision = _judge_window(settings, report, limits, window_s, check_every_s, say)
        report.decided_after_s = time.monotonic() - started
        if report.decision.action == "promote":
            report.promoted = roll_release(settings, layout, target, say).timings
    except (httpx.HTTPError, KeyError, ValueError) as exc:
        # Prometheus unreadable: no verdict can be trusted, the safe way is back.
        report.decision = Decision("rollback", f"cannot judge: {exc!r}")
        report.decided_after_s = time.monotonic() - started
    finally:
        # Whatever happened (an interrupt too), the canary does not stay.
        remove(settings, layout, say)
    time.sleep(1.2)  # nginx flushes its access log buffer every second
    report.log = count_log(access_log, offset, f"127.0.0.1:{releases.canary_port(settings)}")
    return report


def _judge_window(
    settings: Settings,
    report: Report,
    limits: Limits,
    window_s: float,
    check_every_s: float,
    say: Say,
) -> Decision:
    """Every scrape interval until a decision: early abort, or the verdict at the end."""
    started = time.monotonic()
    while True:
        time.sleep(min(check_every_s, max(0.0, window_s - (time.monotonic() - started))) or 0.1)
        elapsed = time.monotonic() - started
        # rate()/increase() need two scrapes in the range; the window reaches back to the start.
        seconds = max(math.ceil(elapsed), int(2 * check_every_s))
        report.canary, report.stable = window_stats(settings, seconds)
        decision = judge(report.canary, report.stable, limits, final=elapsed >= window_s)
        say(
            f"{elapsed:.0f}s: canary {report.canary.requests:.0f} requests,"
            f" {report.canary.errors:.0f} 5xx; {decision.reason}"
        )
        if decision.action != "continue":
            return decision
