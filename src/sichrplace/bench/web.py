"""`sichrplace bench web`: Lighthouse (mobile preset) against the pages people land on.

Lighthouse 12.2.3 (npm, a devDependency: installed here on first use) drives Debian's
chromium (`CHROME_PATH`) through nginx, three runs per page, and the report is the median of
each figure. Its mobile preset simulates a mid-range phone on a slow 4G network (150 ms RTT,
1.6 Mbit/s, 4x CPU slowdown) from one observed load, so the figures depend far less on this
machine's load than a wall-clock timing would; they do depend on what the page makes the
browser do: bytes, requests, render-blocking CSS, script execution, layout.

The pages: home, a search results page (Berlin: the largest city of the data set) and a
listing page (the first Berlin result, by its canonical URL), on the stack seeded with the
listings the run asks for (1,000,000 by default, as for `bench search`).
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import tempfile
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sichrplace.bench.runner import BenchConfig, code_version, ensure_dataset
from sichrplace.config import PROJECT_ROOT, Settings

Progress = Callable[[str], None]

LIGHTHOUSE_VERSION = "12.2.3"
# figure -> (comparison, target): the acceptance criteria.
TARGETS: dict[str, tuple[str, float]] = {
    "performance": (">=", 95),
    "lcp_ms": ("<=", 1500),
    "cls": ("<=", 0.05),
    "tbt_ms": ("<=", 100),
    "accessibility": (">=", 95),
}
_AUDITS = {
    "lcp_ms": "largest-contentful-paint",
    "cls": "cumulative-layout-shift",
    "tbt_ms": "total-blocking-time",
    "fcp_ms": "first-contentful-paint",
    "si_ms": "speed-index",
    "ttfb_ms": "server-response-time",
}
CHROME_FLAGS = (
    "--headless=new --no-sandbox --disable-gpu --disable-quic --no-first-run"
    " --disable-background-networking --disable-component-update --disable-sync"
)


@dataclass
class WebBenchConfig:
    listings: int = 1_000_000
    runs: int = 3
    base_url: str = "http://127.0.0.1:58080"
    chrome: str = "/usr/bin/chromium"
    results_dir: Path = field(default_factory=lambda: PROJECT_ROOT / "bench" / "results")


def lighthouse_cli(progress: Progress) -> Path:
    """node_modules/lighthouse's CLI, installed from the lockfile (dev dependencies) if missing."""
    cli = PROJECT_ROOT / "node_modules" / "lighthouse" / "cli" / "index.js"
    if not cli.exists():
        progress("installing Lighthouse (npm ci with the dev dependencies)")
        subprocess.run(
            ["npm", "ci", "--no-audit", "--no-fund", "--ignore-scripts", "--loglevel=error"],
            cwd=PROJECT_ROOT,
            check=True,
        )
    return cli


def _get(url: str) -> tuple[str, bytes]:
    with urllib.request.urlopen(url, timeout=30) as resp:  # noqa: S310 - the local stack
        return str(resp.geturl()), resp.read()


def pages(base_url: str) -> dict[str, str]:
    """The URLs measured: home, Berlin's results, the first Berlin listing's canonical page."""
    _, body = _get(f"{base_url}/api/v1/search/listings?city=Berlin&limit=1")
    first = json.loads(body)["items"][0]["id"]
    listing_url, _ = _get(f"{base_url}/wohnung/{first}")  # redirected to its canonical URL
    return {
        "home": f"{base_url}/",
        "search": f"{base_url}/suche?city=Berlin",
        "listing": listing_url,
    }


def measure(cli: Path, chrome: str, url: str) -> dict[str, float]:
    """One Lighthouse run (mobile preset, performance and accessibility)."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "report.json"
        subprocess.run(
            [
                "node",
                str(cli),
                url,
                "--quiet",
                "--output=json",
                f"--output-path={out}",
                "--only-categories=performance,accessibility",
                f"--chrome-flags={CHROME_FLAGS} --user-data-dir={tmp}/profile",
                "--max-wait-for-load=60000",
            ],
            env={**os.environ, "CHROME_PATH": chrome},
            check=True,
            capture_output=True,
            timeout=240,
        )
        report = json.loads(out.read_text())
    categories, audits = report["categories"], report["audits"]
    figures = {
        "performance": round(categories["performance"]["score"] * 100, 1),
        "accessibility": round(categories["accessibility"]["score"] * 100, 1),
    }
    for name, audit in _AUDITS.items():
        figures[name] = round(float(audits[audit].get("numericValue") or 0.0), 3)
    return figures


def verdict(median: dict[str, dict[str, float]]) -> dict[str, Any]:
    failed = []
    for page, figures in median.items():
        for name, (op, target) in TARGETS.items():
            value = figures[name]
            ok = value >= target if op == ">=" else value <= target
            if not ok:
                failed.append(f"{page} {name} {value} (target {op} {target})")
    return {"passed": not failed, "failed": failed, "targets": TARGETS}


def run(cfg: WebBenchConfig, settings: Settings, progress: Progress) -> tuple[dict[str, Any], Path]:
    if shutil.which(cfg.chrome) is None:
        raise RuntimeError(f"{cfg.chrome} is missing: scripts/bootstrap.sh --browser installs it")
    started = datetime.now(UTC)
    cli = lighthouse_cli(progress)
    dataset = ensure_dataset(settings, BenchConfig(listings=cfg.listings), progress)
    urls = pages(cfg.base_url)
    runs: dict[str, list[dict[str, float]]] = {page: [] for page in urls}
    for i in range(cfg.runs):
        for page, url in urls.items():
            figures = measure(cli, cfg.chrome, url)
            runs[page].append(figures)
            progress(f"run {i + 1} {page}: {figures}")
    median = {
        page: {name: statistics.median(r[name] for r in results) for name in results[0]}
        for page, results in runs.items()
    }
    report: dict[str, Any] = {
        "started_at": started.isoformat(),
        "finished_at": datetime.now(UTC).isoformat(),
        "git_sha": code_version(settings),
        "config": {
            "lighthouse": LIGHTHOUSE_VERSION,
            "preset": "mobile (default: simulated slow 4G, 4x CPU)",
            "chrome": cfg.chrome,
            "runs": cfg.runs,
            "urls": urls,
        },
        "dataset": dataset,
        "runs": runs,
        "median": median,
        "verdict": verdict(median),
    }
    cfg.results_dir.mkdir(parents=True, exist_ok=True)
    out = cfg.results_dir / f"web-{started.strftime('%Y%m%dT%H%M%SZ')}.json"
    out.write_text(json.dumps(report, indent=2) + "\n")
    return report, out


def table(median: dict[str, dict[str, float]], judged: dict[str, Any]) -> str:
    names = ["performance", "lcp_ms", "cls", "tbt_ms", "accessibility", "fcp_ms", "ttfb_ms"]
    lines = [f"{'page':10s} " + " ".join(f"{n:>13s}" for n in names)]
    for page, figures in median.items():
        lines.append(f"{page:10s} " + " ".join(f"{figures[n]:13g}" for n in names))
    lines.append("targets: " + ", ".join(f"{n} {op} {t:g}" for n, (op, t) in TARGETS.items()))
    lines.append("PASS" if judged["passed"] else "FAIL: " + "; ".join(judged["failed"]))
    return "\n".join(lines)
