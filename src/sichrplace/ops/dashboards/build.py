"""Turn `spec.DASHBOARDS` into Grafana dashboard JSON with grafana-foundation-sdk (pinned in
pyproject.toml), and read the PromQL back out of that JSON for the checks."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from grafana_foundation_sdk.builders import dashboard as gd
from grafana_foundation_sdk.builders import prometheus, stat, timeseries
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models.dashboard import DataSourceRef, GridPos

from sichrplace.config import PROJECT_ROOT
from sichrplace.ops.dashboards.spec import DASHBOARDS, Dashboard, Panel

DASHBOARD_DIR = PROJECT_ROOT / "deploy" / "grafana" / "dashboards"
# Every panel asks the data source chosen in the dashboard's `datasource` variable, so one
# file works against any Prometheus a Grafana has (provisioning or import).
DATASOURCE = DataSourceRef(type_val="prometheus", uid="${datasource}")
WIDTH = {"timeseries": 12, "stat": 6}
HEIGHT = {"timeseries": 8, "stat": 5}


def _panel(spec: Panel, pos: GridPos) -> timeseries.Panel | stat.Panel:
    panel = timeseries.Panel() if spec.kind == "timeseries" else stat.Panel()
    panel.title(spec.title).unit(spec.unit).datasource(DATASOURCE).grid_pos(pos)
    if spec.description:
        panel.description(spec.description)
    for i, query in enumerate(spec.queries):
        target = prometheus.Dataquery().expr(query.expr).ref_id(chr(ord("A") + i))
        if query.legend:
            target.legend_format(query.legend)
        panel.with_target(target)
    return panel


def build(spec: Dashboard) -> dict[str, Any]:
    board = (
        gd.Dashboard(spec.title)
        .uid(spec.uid)
        .description(spec.description)
        .tags(list(spec.tags))
        .time("now-6h", "now")
        .refresh("30s")
        .editable()
        .with_variable(gd.DatasourceVariable("datasource").label("Prometheus").type("prometheus"))
    )
    y = 0
    for row in spec.rows:
        board.with_row(gd.Row(row.title).grid_pos(GridPos(h=1, w=24, x=0, y=y)))
        y += 1
        x, row_height = 0, 0
        for panel in row.panels:
            w, h = WIDTH[panel.kind], HEIGHT[panel.kind]
            if x + w > 24:
                x, y = 0, y + row_height
                row_height = 0
            board.with_panel(_panel(panel, GridPos(h=h, w=w, x=x, y=y)))
            x += w
            row_height = max(row_height, h)
        y += row_height
    encoded: dict[str, Any] = json.loads(JSONEncoder(sort_keys=True).encode(board.build()))
    return encoded


def render_all() -> dict[str, str]:
    """File name -> JSON text of every dashboard (stable: sorted keys, 2-space indent)."""
    return {
        f"{spec.uid}.json": json.dumps(build(spec), indent=2, sort_keys=True) + "\n"
        for spec in DASHBOARDS
    }


def write_all(directory: Path = DASHBOARD_DIR) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in render_all().items():
        path = directory / name
        path.write_text(text)
        written.append(path)
    return written


def stale(directory: Path = DASHBOARD_DIR) -> list[str]:
    """Files that differ from the generator's output, are missing, or are left over."""
    wanted = render_all()
    present = {p.name for p in directory.glob("*.json")} if directory.exists() else set()
    differ = [
        name
        for name, text in wanted.items()
        if not (directory / name).exists() or (directory / name).read_text() != text
    ]
    return sorted(differ + sorted(present - wanted.keys()))


def expressions(board: dict[str, Any]) -> list[tuple[str, str]]:
    """(panel title, expr) of every query of a dashboard's JSON, rows' panels included."""
    found = []
    panels = list(board.get("panels") or [])
    while panels:
        panel = panels.pop(0)
        panels.extend(panel.get("panels") or [])
        for target in panel.get("targets") or []:
            if target.get("expr"):
                found.append((str(panel.get("title", "")), str(target["expr"])))
    return found
