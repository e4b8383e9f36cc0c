"""Event stream metrics (exported through the default registry, like the others)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge

EVENT_STREAMS_OPEN = Gauge(
    "sichrplace_event_streams_open",
    "Event streams (GET /api/v1/events) this process is serving.",
)
# how: live (from the hub's Redis subscription) | replay (read from Postgres: Last-Event-ID,
# a gap, or a check that found what a lost publish did not bring)
EVENTS_SENT = Counter(
    "sichrplace_events_sent_total",
    "Events written to streams, by how they reached the stream.",
    ["how"],
)
# trigger: gap (a later event arrived first) | check (the periodic or post-reconnect check
# of Postgres found events the stream had not been sent)
EVENT_GAPS_REPAIRED = Counter(
    "sichrplace_event_gaps_repaired_total",
    "Times a stream was missing events and read them from Postgres.",
    ["trigger"],
)
EVENT_HUB_RECONNECTS = Counter(
    "sichrplace_event_hub_reconnects_total",
    "Times the process's event hub connected to Redis again after losing its connection.",
)
EVENT_HUB_CONNECTED = Gauge(
    "sichrplace_event_hub_connected",
    "1 while the process's event hub is subscribed on Redis (0: streams are fed by checks).",
)
# reason: user (per-user cap, 429) | capacity (per-process cap, 503) | draining (503)
EVENT_STREAMS_REFUSED = Counter(
    "sichrplace_event_streams_refused_total",
    "Event streams refused, by reason.",
    ["reason"],
)
