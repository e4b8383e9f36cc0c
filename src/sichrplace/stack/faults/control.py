"""A client of the fault proxy's control port (stack/faultproxy.py)."""

from __future__ import annotations

from typing import Any

import httpx

from sichrplace.config import Settings
from sichrplace.stack.faultproxy import FaultProxyPorts


class FaultProxyError(RuntimeError):
    """The fault proxy did not answer or refused a mode."""


def _url(settings: Settings, path: str) -> str:
    return f"http://127.0.0.1:{FaultProxyPorts(settings.stack.faultproxy_base_port).control}{path}"


def _call(settings: Settings, method: str, path: str, body: Any = None) -> dict[str, Any]:
    try:
        resp = httpx.request(method, _url(settings, path), json=body, timeout=5)
    except httpx.HTTPError as exc:
        msg = f"fault proxy: {exc!r} (is the `faultproxy` program running?)"
        raise FaultProxyError(msg) from exc
    if resp.status_code != 200:
        raise FaultProxyError(f"fault proxy {method} {path}: {resp.status_code} {resp.text}")
    data: dict[str, Any] = resp.json()
    return data


def paths(settings: Settings) -> dict[str, Any]:
    """Every path's mode and counters."""
    return _call(settings, "GET", "/paths")


def healthy(settings: Settings) -> bool:
    try:
        return _call(settings, "GET", "/healthz").get("status") == "ok"
    except FaultProxyError:
        return False


def set_mode(settings: Settings, path: str, mode: str, **params: float) -> dict[str, Any]:
    """E.g. `set_mode(s, "redis", "latency", ms=50, jitter_ms=10)`, `"stall", seconds=5`,
    `"reset", probability=0.3`, `"refuse"`, `"pass"`."""
    return _call(settings, "POST", f"/paths/{path}", {"mode": mode, **params})


def clear(settings: Settings) -> dict[str, Any]:
    """Every path back to `pass`."""
    return _call(settings, "POST", "/clear")
