"""Alertmanager's configuration from deploy/alertmanager/alertmanager.yml.tmpl.

The template names its webhook URLs as placeholders; whoever runs Alertmanager (the local
stack, a deployment) renders it with the URLs of its Slack and Teams channels, or of a local
receiver standing in for them.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from pathlib import Path
from string import Template

from sichrplace.config import PROJECT_ROOT

ALERTMANAGER_TEMPLATE = PROJECT_ROOT / "deploy" / "alertmanager" / "alertmanager.yml.tmpl"

# Substituted inside single-quoted YAML and Go template text: no quotes, spaces or braces.
_URL = re.compile(r"^https?://[^\s'\"{}$]+$")


@dataclass(frozen=True)
class Receivers:
    """The webhook of each channel alerts go to: pages and tickets, Slack and Teams."""

    slack_page_url: str
    slack_ticket_url: str
    teams_page_url: str
    teams_ticket_url: str

    @classmethod
    def local(cls, base_url: str) -> Receivers:
        """All four on one local receiver, told apart by path (/slack/page, /teams/ticket…)."""
        base = base_url.rstrip("/")
        return cls(
            slack_page_url=f"{base}/slack/page",
            slack_ticket_url=f"{base}/slack/ticket",
            teams_page_url=f"{base}/teams/page",
            teams_ticket_url=f"{base}/teams/ticket",
        )


def render_alertmanager(
    receivers: Receivers, *, runbook_base: str = "", template: Path = ALERTMANAGER_TEMPLATE
) -> str:
    """alertmanager.yml for these receivers; `runbook_base` prefixes each alert's
    runbook_url (a repository browser's URL ending in '/', or "" for the bare path)."""
    values = asdict(receivers)
    for name, url in values.items():
        if not _URL.match(url):
            raise ValueError(f"{name}: not an http(s) URL fit for the config: {url!r}")
    if runbook_base and not (_URL.match(runbook_base) and runbook_base.endswith("/")):
        raise ValueError(f"runbook_base: an http(s) URL ending in '/', not {runbook_base!r}")
    return Template(template.read_text()).substitute(values, runbook_base=runbook_base)
