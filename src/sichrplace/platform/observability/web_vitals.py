"""Core Web Vitals from real users (RUM): what the web front end's beacon endpoint
(`POST /api/v1/rum`, web/rum.py) observes. Buckets bracket Google's "good" and "poor"
thresholds, which a panel or an alert can then count exactly (LCP 2.5 s / 4 s, INP 200 ms /
500 ms, CLS 0.1 / 0.25, TTFB 0.8 s / 1.8 s).

`page` is a page template's name (e.g. "search/results"), never a URL: the endpoint records
a name it does not know as "other", so the label's values stay as few as the templates.
"""

from __future__ import annotations

from typing import Literal

from prometheus_client import Counter, Histogram

Vital = Literal["lcp", "inp", "cls", "ttfb"]
OTHER_PAGE = "other"

NAMES: dict[Vital, str] = {
    "lcp": "sichrplace_web_vitals_lcp_seconds",
    "inp": "sichrplace_web_vitals_inp_seconds",
    "cls": "sichrplace_web_vitals_cls",
    "ttfb": "sichrplace_web_vitals_ttfb_seconds",
}
_HELP: dict[Vital, str] = {
    "lcp": "Largest Contentful Paint",
    "inp": "Interaction to Next Paint",
    "cls": "Cumulative Layout Shift (unitless)",
    "ttfb": "Time to First Byte",
}
_BUCKETS: dict[Vital, tuple[float, ...]] = {
    "lcp": (0.5, 1, 1.5, 2, 2.5, 3, 4, 6, 10, 20),
    "inp": (0.05, 0.1, 0.2, 0.3, 0.5, 1, 2, 5),
    "cls": (0.01, 0.05, 0.1, 0.15, 0.25, 0.5, 1),
    "ttfb": (0.1, 0.2, 0.4, 0.8, 1.2, 1.8, 3, 5, 10),
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
# Google's "good" bound of each vital (a bucket bound, so a share is counted exactly) and the
# "poor" one above which a view counts as poor.
GOOD_THRESHOLD: dict[Vital, float] = {"lcp": 2.5, "inp": 0.2, "cls": 0.1, "ttfb": 0.8}
POOR_THRESHOLD: dict[Vital, float] = {"lcp": 4, "inp": 0.5, "cls": 0.25, "ttfb": 1.8}

RejectReason = Literal["invalid", "too_large", "rate_limited", "duplicate"]
REJECT_REASONS: tuple[RejectReason, ...] = ("invalid", "too_large", "rate_limited", "duplicate")
REPORTS_REJECTED = Counter(
    "sichrplace_web_vitals_reports_rejected_total",
    "Beacon reports not recorded: invalid (4xx naming the field), too_large (413), "
    "rate_limited (429), duplicate (a metric id already recorded: 204).",
    ["reason"],
)
for _reason in REJECT_REASONS:  # every series from the start: rate() sees the first one
    REPORTS_REJECTED.labels(_reason)


def observe(vital: Vital, page: str, value: float) -> None:
    """Record one report's value (seconds, or CLS's score) under a bounded page name."""
    WEB_VITALS[vital].labels(page).observe(value)


def rejected(reason: RejectReason) -> None:
    REPORTS_REJECTED.labels(reason).inc()
