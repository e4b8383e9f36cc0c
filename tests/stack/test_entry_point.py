"""The public entry point (nginx) hides the internal endpoints; the instances still serve them."""

from __future__ import annotations

import httpx
import pytest

from sichrplace.config import Settings

PROBLEM_JSON = "application/problem+json"


@pytest.mark.parametrize("path", ["/metrics", "/api/v1/admin/users", "/api/v1/admin/"])
async def test_internal_endpoints_are_not_found_through_nginx(stack_url: str, path: str) -> None:
    async with httpx.AsyncClient(base_url=stack_url, timeout=10) as client:
        response = await client.get(path)
    assert response.status_code == 404
    assert response.headers["content-type"].startswith(PROBLEM_JSON)
    body = response.json()
    assert body["type"] == "https://sichrplace.de/problems/not-found"
    assert body["status"] == 404
    assert body["title"] == "Not Found"
    assert body["detail"]


async def test_metrics_stay_on_the_instances_own_port(settings: Settings) -> None:
    port = settings.stack.api_base_port
    async with httpx.AsyncClient(timeout=10) as client:
        response = await client.get(f"http://127.0.0.1:{port}/metrics")
    assert response.status_code == 200
