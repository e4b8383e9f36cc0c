"""The soak's slope check on synthetic series, and the sampler's parsing of what it reads."""

from __future__ import annotations

import csv
import random
from collections.abc import Callable
from pathlib import Path

import pytest

from sichrplace.bench.mixed.run import MixedResult, Second
from sichrplace.bench.sampler import (
    Sample,
    activity_series,
    app_group,
    is_client_backend,
    limits_nofile,
    pool_series,
    prometheus_value,
    smaps_rollup_kb,
    stat_ppid,
    status_rss_kb,
)
from sichrplace.bench.soak import (
    SoakConfig,
    load_problems,
    series_of,
    table,
    timeline_series,
    write_csv,
)
from sichrplace.bench.soak_check import (
    Bounds,
    Limits,
    Point,
    cap_for,
    check_all,
    check_series,
    least_squares,
    segment_after_restart,
    steady,
)

T0 = 1_800_000_000.0
STEP = 10.0  # the sampler's default interval
RUN = 1800.0  # a 30-minute soak
BOUNDS = Bounds()  # 5 minutes of warm-up left out, a horizon of 24 h


def series(
    value_at: Callable[[float], float], *, seed: int = 1, noise: float = 0.0, run: float = RUN
) -> list[Point]:
    """A sampled series over `run` seconds: value_at(elapsed seconds) plus Gaussian noise."""
    rng = random.Random(seed)
    n = int(run / STEP) + 1
    return [(T0 + i * STEP, value_at(i * STEP) + rng.gauss(0, noise)) for i in range(n)]


def judge(name: str, points: list[Point], cap: float | None = None) -> bool:
    return check_series(name, steady(points, T0 + BOUNDS.warmup_s), BOUNDS, cap).ok


def test_least_squares_finds_the_slope_of_a_line() -> None:
    fit = least_squares([(T0 + s, 100 + 2 * s / 3600) for s in range(0, 3600, 60)])
    assert fit.slope_per_h == pytest.approx(2.0)
    assert fit.stderr_per_h == pytest.approx(0.0, abs=1e-6)
    assert fit.first == pytest.approx(100.0)
    with pytest.raises(ValueError, match="two points"):
        least_squares([(T0, 1.0)])


def test_a_leaking_process_fails_and_a_flat_noisy_one_passes() -> None:
    # 400 MB growing by 40 MB an hour (a 1 kB leak per request at ~11 requests/s), with the
    # allocator's wobble: above max(8, 5% of 400 = 20) MB/h plus the noise's share.
    leaking = series(lambda s: 400 + 40 * s / 3600, noise=3.0)
    flat = series(lambda s: 400.0, noise=8.0)
    assert not judge("mem_mb/api-1", leaking)
    assert judge("mem_mb/api-1", flat)
    # The same flat series with much more noise still passes: the bound grows with it.
    assert judge("mem_mb/api-1", series(lambda s: 400.0, noise=40.0, seed=7))


def test_the_warm_up_is_left_out() -> None:
    # Caches filling for 4 minutes (+60 MB), then flat: only the steady part is judged.
    plateau = series(lambda s: 300 + 60 * min(s, 240) / 240, noise=2.0)
    assert judge("mem_mb/worker-1", plateau)
    whole = check_series("mem_mb/worker-1", plateau, BOUNDS).slope_per_h
    part = check_series("mem_mb/worker-1", steady(plateau, T0 + 300), BOUNDS).slope_per_h
    assert whole is not None
    assert part is not None
    assert whole > 40 > 5 > abs(part)  # the filling caches would look like growth


def test_a_connection_leak_fails_and_a_busy_pool_passes() -> None:
    # One connection more a minute: far below the capacity at the end, but it would reach it
    # within the horizon.
    leak = series(lambda s: 10 + s // 60)
    busy = [(t, float(round(v))) for t, v in series(lambda s: 30.0, noise=5.0)]
    assert not judge("conn/pg.total", leak, cap=197)
    assert judge("conn/pg.total", busy, cap=197)
    over = [*busy[:-1], (busy[-1][0], 250.0)]
    verdict = check_series("conn/pg.total", steady(over, T0 + 300), BOUNDS, cap=197)
    assert not verdict.ok
    assert "capacity" in verdict.reason


def wandering(seed: int, base: float, sd: float, rho: float = 0.8) -> list[Point]:
    """A flat series whose noise wanders (AR(1)), as a pool's size or a backlog does."""
    rng, x, out = random.Random(seed), 0.0, []
    for i in range(int(RUN / STEP) + 1):
        x = rho * x + rng.gauss(0, sd)
        out.append((T0 + i * STEP, float(round(base + x))))
    return out


def test_flat_wandering_series_rarely_raise_a_false_alarm() -> None:
    # Fifty flat runs whose counts wander slowly: the autocorrelation widens the error, so
    # about as many false alarms as a run's ~50 judged series can bear (one at most here).
    alarms = [s for s in range(50) if not judge("conn/pg.total", wandering(s, 20, 2), cap=50)]
    assert len(alarms) <= 1, alarms


def test_a_growing_queue_fails() -> None:
    assert not judge("queue/notifications.todo", series(lambda s: s / 20), cap=500)
    assert judge("queue/notifications.todo", series(lambda s: 3.0, noise=2.0), cap=500)


def test_a_p95_creeping_up_fails() -> None:
    creeping = series(lambda s: 50 + 40 * s / 3600, noise=3.0)
    assert not judge("latency/api.p95_ms", creeping)
    assert judge("latency/api.p95_ms", series(lambda s: 50.0, noise=10.0))


def test_too_few_steady_points_are_skipped_not_failed() -> None:
    short = series(lambda s: s, run=320.0)
    verdict = check_series("mem_mb/api-1", steady(short, T0 + 300), BOUNDS)
    assert verdict.ok
    assert verdict.reason.startswith("skipped")


def test_a_restarted_process_is_judged_on_its_last_life() -> None:
    points = series(lambda s: 400 + (200 if s < 900 else 0) + s / 360, noise=1.0)
    pids = [1 if t < T0 + 900 else 2 for t, _ in points]
    assert segment_after_restart(points, pids)[0][0] == T0 + 900
    verdicts = check_all(
        {"mem_mb/api-1": points},
        since=T0 + 300,
        bounds=BOUNDS,
        limits=None,
        pids={"api-1": list(zip([t for t, _ in points], pids, strict=True))},
    )
    assert verdicts[0].ok
    assert "restarted" in verdicts[0].reason
    assert verdicts[0].n == len([p for p in points if p[0] >= T0 + 900])


def test_check_all_judges_what_is_judged_and_finds_the_capacities() -> None:
    limits = Limits(
        pg_connections=197, pgbouncer_clients=304, pgbouncer_servers=50, redis_clients=400,
        queue_doing=4, queue_todo=500, fds={"api-1": 20000},
    )  # fmt: skip
    assert cap_for("conn/pgbouncer.sichrplace.servers", limits) == 50
    assert cap_for("conn/pgbouncer.sichrplace_ro.clients", limits) == 304
    assert cap_for("conn/redis.clients", limits) == 400
    assert cap_for("queue/media.doing", limits) == 4
    assert cap_for("fds/api-1", limits) == 20000
    assert cap_for("mem_mb/api-1", limits) is None
    flat = series(lambda s: 5.0)
    found = check_all(
        {"procs/nginx": flat, "rps/api": flat, "fds/api-1": flat, "rss_mb/nginx": flat},
        since=T0 + 300,
        bounds=BOUNDS,
        limits=limits,
    )
    assert [(v.series, v.cap) for v in found] == [("fds/api-1", 20000)]


def test_parsers_of_proc() -> None:
    assert status_rss_kb("Name:\tx\nVmRSS:\t  123456 kB\n") == 123456
    assert status_rss_kb("Name:\tkthreadd\n") is None
    rollup = "55c7-7ffd ---p 00000000 00:00 0  [rollup]\nRss:  2000 kB\nPss:  1500 kB\n"
    assert smaps_rollup_kb(rollup + "Pss_Shmem:  900 kB\n") == {
        "Rss": 2000,
        "Pss": 1500,
        "Pss_Shmem": 900,
    }
    assert stat_ppid("1147 (nginx: worker (x)) S 1144 1144 1144 0 -1") == 1144
    assert limits_nofile("Max open files            20000                20000    files\n") == 20000
    assert limits_nofile("Max open files  unlimited  unlimited  files\n") is None


def test_parsers_of_postgres_pgbouncer_redis_and_prometheus() -> None:
    assert is_client_backend("postgres: sichrplace: sichrplace sichrplace 127.0.0.1(33578) idle")
    assert is_client_backend("postgres: sichrplace: postgres postgres [local] idle")
    assert not is_client_backend("postgres: sichrplace: checkpointer")
    assert not is_client_backend(
        "postgres: sichrplace: walsender replicator 127.0.0.1(1) streaming"
    )
    assert not is_client_backend("postgres: sichrplace: startup recovering 0000000500000004")
    assert app_group("sichrplace-jobs-1133") == "sichrplace-jobs"
    assert app_group("") == "-"
    found = activity_series(
        [("sichrplace", "sichrplace-jobs-1133", "idle", 4), ("sichrplace", "", "active", 3),
         ("sichrplace", "", "idle in transaction", 2), (None, None, None, 1)]
    )  # fmt: skip
    assert found["conn/pg.total"] == 10
    assert found["conn/pg.sichrplace.sichrplace-jobs"] == 4
    assert found["conn/pg.sichrplace.-"] == 5
    assert found["conn/pg.idle_in_transaction"] == 2
    pools = pool_series(
        [
            {"database": "pgbouncer", "cl_active": 2, "cl_waiting": 0},
            {"database": "sichrplace", "cl_active": 24, "cl_waiting": 3, "sv_active": 4,
             "sv_idle": 9, "sv_used": 1, "sv_tested": 0, "sv_login": 0},
        ]
    )  # fmt: skip
    assert pools == {
        "conn/pgbouncer.sichrplace.clients": 27,
        "conn/pgbouncer.sichrplace.waiting": 3,
        "conn/pgbouncer.sichrplace.servers": 14,
    }
    assert prometheus_value({"data": {"result": [{"value": [T0, "0.0421"]}]}}) == 0.0421
    assert prometheus_value({"data": {"result": [{"value": [T0, "NaN"]}]}}) is None
    assert prometheus_value({"data": {"result": []}}) is None


def test_series_csv_and_the_loads_timeline(tmp_path: Path) -> None:
    samples = [
        Sample(T0, {"mem_mb/api-1": 400.0, "queue/media.todo": 2}, {"api-1": 1}),
        Sample(T0 + 10, {"mem_mb/api-1": 401.0}, {"api-1": 1}),
    ]
    found = series_of(samples)
    assert found["queue/media.todo"] == [(T0, 2.0), (T0 + 10, 0.0)]  # absent: no job
    assert found["mem_mb/api-1"] == [(T0, 400.0), (T0 + 10, 401.0)]
    path = tmp_path / "soak.csv"
    write_csv(path, samples, T0)
    rows = list(csv.DictReader(path.open()))
    assert rows[1]["elapsed_s"] == "10.0"
    assert rows[1]["queue/media.todo"] == ""
    timeline = [Second(t=int(T0) + i, requests=100, failures=i % 2, status_5xx=0, no_answer=0,
                       p95_ms=40.0 + i) for i in range(20)]  # fmt: skip
    load = timeline_series(timeline, 10.0)
    assert load["rps/load"] == [(T0 + 10, 100.0), (T0 + 20, 100.0)]
    assert load["errors/load.failures"][0] == (T0 + 10, 5.0)
    assert load["latency/load.p95_ms"][0] == (T0 + 10, 44.5)


def test_the_table_shows_a_leak_first() -> None:
    flat = check_series("mem_mb/redis", steady(series(lambda s: 14.0), T0 + 300), BOUNDS)
    leak = check_series("mem_mb/api-1", steady(series(lambda s: 400 + s / 36), T0 + 300), BOUNDS)
    lines = table([flat, leak]).splitlines()
    assert "mem_mb/api-1" in lines[2]
    assert "LEAK" in lines[2]
    assert "mem_mb/redis" in lines[3]
    assert "ok: flat" in lines[3]


def test_a_short_run_keeps_two_thirds_of_itself() -> None:
    assert SoakConfig(duration_s=1800).effective_warmup_s() == 900  # the second half
    assert SoakConfig(duration_s=120).effective_warmup_s() == 60


def test_a_run_without_its_load_is_no_soak() -> None:
    cfg = SoakConfig(rate=120)

    def result(requests: int, returncode: int = 0) -> MixedResult:
        timeline = [Second(t=int(T0) + i, requests=requests, failures=0, status_5xx=0, no_answer=0,
                           p95_ms=30.0) for i in range(60)]  # fmt: skip
        return MixedResult(
            started_at=T0, measured_from=T0, measured_until=T0 + 60, endpoints={}, groups={},
            status_5xx={}, no_answer={}, timeline=timeline, ack_paths=[], users={},
            returncode=returncode,
        )  # fmt: skip

    assert load_problems(cfg, None) == ["no load result"]
    assert load_problems(cfg, result(0, returncode=1)) == [
        "Locust exited with 1",
        "the load reached 0.0 of 120 requests/s",
    ]
