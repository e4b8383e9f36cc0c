"""Core Web Vitals from real users (RUM): the metrics the web front end's beacon endpoint
observes, declared here so the dashboards (deploy/grafana/) and the names check agree before
the front end exists. Buckets bracket Google's "good" and "poor" thresholds, which a panel
can then count exactly (LCP 2.5 s / 4 s, INP 200 ms / 500 ms, CLS 0.1 / 0.25, FCP 1.8 s /
3 s, TTFB 0.8 s / 1.8 s).

`page` is a page template, never a URL: one of PAGES (anything else is recorded as "other").
"""

from __future__ import annotations

from typing import Literal

from prometheus_client import Histogram

Page = Literal["home", "search", "listing", "account", "other"]
PAGES: tuple[Page, ...] = ("home", "search", "listing", "account", "other")
Vital = Literal["lcp", "inp", "cls", "fcp", "ttfb"]

NAMES: dict[Vital, str] = {
    "lcp": "sichrplace_web_vitals_lcp_seconds",
    "inp": "sichrplace_web_vitals_inp_seconds",
    "cls": "sichrplace_web_vitals_cls",
    "fcp": "sichrplace_web_vitals_fcp_seconds",
    "ttfb": "sichrplace_web_vitals_ttfb_seconds",
}
_HELP: dict[Vital, str] = {
    "lcp": "Largest Contentful Paint",
    "inp": "Interaction to Next Paint",
    "cls": "Cumulative Layout Shift (unitless)",
    "fcp": "First Contentful Paint",
    "ttfb": "Time to First Byte",
}
_BUCKETS: dict[Vital, tuple[float, ...]] = {
    "lcp": (0.5, 1, 1.5, 2, 2.5, 3, 4, 6, 10),
    "inp": (0.05, 0.1, 0.2, 0.3, 0.5, 1, 2),
    "cls": (0.01, 0.05, 0.1, 0.15, 0.25, 0.5, 1),
    "fcp": (0.5, 1, 1.8, 2.5, 3, 4, 6, 10),
    "ttfb": (0.1, 0.2, 0.4, 0.8, 1.2, 1.8, 3, 5),
}
WEB_VITALS: dict[Vital, Histogram] = {
    vital: Histogram(
        name,
        f"{_HELP[vital]} seen by users' browsers, by page template.",
        ["page"],
        buckets=_BUCKETS[vital],
    )
    for vital, name in NAMES.items()
}
# Google's "good" bound of each vital: a bucket bound above, so a share is counted exactly.
GOOD_THRESHOLD: dict[Vital, float] = {
    "lcp": 2.5,
    "inp": 0.2,
    "cls": 0.1,
    "fcp": 1.8,
    "ttfb": 0.8,
}


def observe(vital: Vital, page: str, value: float) -> None:
    """Record one beacon's value (the RUM endpoint calls this)."""
    WEB_VITALS[vital].labels(page if page in PAGES else "other").observe(value)
