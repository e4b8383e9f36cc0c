"""Load generators: wrk (HTTP, rotating through a list of paths) and pgbench (SQL scripts).

Both report the same `Measurement`: requests (or transactions) per second, p50/p95/p99 latency
in milliseconds and errors. wrk prints its summary from a Lua `done()` hook as one JSON line;
pgbench latencies come from its per-transaction log.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

# The last part of every wrk script: one BENCH_JSON line that wrk_measurement reads.
WRK_DONE = r"""
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '\nBENCH_JSON {"requests":%d,"duration_us":%d,"bytes":%d,"connect":%d,"read":%d,' ..
    '"write":%d,"status":%d,"timeout":%d,"p50":%d,"p95":%d,"p99":%d,"max":%d}\n',
    summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write, e.status,
    e.timeout, latency:percentile(50), latency:percentile(95), latency:percentile(99),
    latency.max))
end

"""

WRK_SCRIPT = r"""
local paths = {}
local counter = 0
local headers = {}
local threads = {}
local next_id = 0

setup = function(thread)
  next_id = next_id + 1
  thread:set("id", next_id)
  table.insert(threads, thread)
end

init = function(args)
  for line in io.lines(args[1]) do
    if #line > 0 then paths[#paths + 1] = line end
  end
  if args[2] == "bypass" then headers["X-Cache-Bypass"] = "1" end
  -- threads start at different offsets so they do not move in lockstep
  counter = math.floor((#paths / 7) * (id or 1)) % #paths
end

request = function()
  counter = counter % #paths + 1
  return wrk.format("GET", paths[counter], headers)
end


"""


@dataclass
class Measurement:
    rps: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    errors: int
    requests: int
    # CPU time the API processes spent per request (user + system, from /proc), when the
    # scenario drives them: unlike the rate it hardly moves when other work shares the cores.
    api_cpu_ms: float | None = None
    # Shares of the scenario's requests the edge answered from its cache (HIT, stale) and
    # let pass on a client's request to skip caches (BYPASS), from nginx's access log.
    edge_hit_ratio: float | None = None
    edge_bypass_ratio: float | None = None

    def as_dict(self) -> dict[str, float | int | None]:
        return asdict(self)


class LoadToolError(RuntimeError):
    """wrk or pgbench failed or printed something unexpected."""


def require_tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise LoadToolError(f"{name} is not installed (Debian package {name!r})")
    return path


def run_wrk(
    base_url: str,
    paths: Sequence[str],
    *,
    concurrency: int,
    duration_s: float,
    bypass_cache: bool = False,
    threads: int = 2,
    timeout_s: float = 5.0,
) -> Measurement:
    """Drive `paths` (rotating) at fixed concurrency for `duration_s` seconds."""
    wrk = require_tool("wrk")
    with tempfile.TemporaryDirectory(prefix="sichrplace-wrk-") as tmp:
        script = Path(tmp, "rotate.lua")
        script.write_text(WRK_SCRIPT + WRK_DONE)
        path_file = Path(tmp, "paths.txt")
        path_file.write_text("\n".join(paths) + "\n")
        cmd = [
            wrk,
            f"-t{max(1, min(threads, concurrency))}",
            f"-c{concurrency}",
            f"-d{max(1, round(duration_s))}s",
            "--timeout",
            f"{max(1, round(timeout_s))}s",
            "-s",
            str(script),
            base_url,
            "--",
            str(path_file),
            "bypass" if bypass_cache else "cached",
        ]
        proc = subprocess.run(
            cmd, capture_output=True, text=True, timeout=duration_s + 60, check=False
        )
    return wrk_measurement(proc)


def wrk_measurement(proc: subprocess.CompletedProcess[str]) -> Measurement:
    """What a wrk run whose script ends with WRK_DONE printed (its BENCH_JSON line)."""
    line = next((ln for ln in proc.stdout.splitlines() if ln.startswith("BENCH_JSON ")), None)
    if proc.returncode != 0 or line is None:
        raise LoadToolError(f"wrk failed ({proc.returncode}): {proc.stderr or proc.stdout}")
    data = json.loads(line.removeprefix("BENCH_JSON "))
    seconds = max(data["duration_us"] / 1e6, 1e-9)
    errors = sum(data[k] for k in ("connect", "read", "write", "status", "timeout"))
    return Measurement(
        rps=round(data["requests"] / seconds, 1),
        p50_ms=data["p50"] / 1000,
        p95_ms=data["p95"] / 1000,
        p99_ms=data["p99"] / 1000,
        errors=errors,
        requests=data["requests"],
    )


def _percentile(sorted_values: Sequence[float], pct: float) -> float:
    if not sorted_values:
        return 0.0
    rank = max(0, min(len(sorted_values) - 1, round(pct / 100 * len(sorted_values)) - 1))
    return sorted_values[rank]


def run_pgbench(
    dsn_parts: dict[str, str],
    scripts: Sequence[Sequence[str]],
    *,
    concurrency: int,
    duration_s: float,
    threads: int = 2,
) -> Measurement:
    """Run the SQL scripts (each a list of statements = one transaction) with pgbench."""
    pgbench = require_tool("pgbench")
    with tempfile.TemporaryDirectory(prefix="sichrplace-pgbench-") as tmp:
        args = [pgbench, "-n", f"-c{concurrency}", f"-j{threads}", f"-T{max(1, round(duration_s))}"]
        args += ["-h", dsn_parts["host"], "-p", dsn_parts["port"], "-U", dsn_parts["user"]]
        args += ["--log", f"--log-prefix={tmp}/tx", "--failures-detailed"]
        for i, statements in enumerate(scripts):
            script = Path(tmp, f"q{i}.sql")
            script.write_text("".join(s.rstrip().rstrip(";") + ";\n" for s in statements))
            args += ["-f", f"{script}@1"]
        args.append(dsn_parts["dbname"])
        env = dict(os.environ, PGPASSWORD=dsn_parts["password"])
        proc = subprocess.run(
            args, capture_output=True, text=True, env=env, timeout=duration_s + 120, check=False
        )
        if proc.returncode not in (0, 2):  # 2: some transactions failed (counted below)
            raise LoadToolError(f"pgbench failed ({proc.returncode}): {proc.stderr[-2000:]}")
        latencies: list[float] = []
        failed = 0
        for log in Path(tmp).glob("tx*"):
            for line in log.read_text().splitlines():
                fields = line.split()
                if len(fields) < 3:
                    continue
                if fields[2] in ("failed", "serialization", "deadlock"):
                    failed += 1
                    continue
                latencies.append(int(fields[2]) / 1000)
    tps = _pgbench_tps(proc.stdout)
    latencies.sort()
    return Measurement(
        rps=round(tps, 1),
        p50_ms=round(_percentile(latencies, 50), 3),
        p95_ms=round(_percentile(latencies, 95), 3),
        p99_ms=round(_percentile(latencies, 99), 3),
        # A client whose query errors out (e.g. statement timeout) is aborted by pgbench.
        errors=failed + proc.stderr.count("aborted in command"),
        requests=len(latencies),
    )


def _pgbench_tps(output: str) -> float:
    for line in output.splitlines():
        if line.startswith("tps = "):
            return float(line.split()[2])
    raise LoadToolError(f"pgbench printed no tps: {output[-1000:]}")
