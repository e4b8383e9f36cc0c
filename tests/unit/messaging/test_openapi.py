"""The messaging routes state every status they answer, as problem+json (no server needed)."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi import FastAPI

from sichrplace.kit.errors import PROBLEM_JSON
from sichrplace.messaging.endpoints import router
from sichrplace.platform.http.openapi import install_openapi

PREFIX = "/api/v1"
BASE = f"{PREFIX}/conversations"
ONE = f"{BASE}/{{conversation_id}}"

EXPECTED = {
    ("post", BASE): {"200", "201", "401", "403", "404", "422", "429"},
    ("get", BASE): {"200", "401", "422"},
    ("get", ONE): {"200", "401", "404"},
    ("get", f"{ONE}/messages"): {"200", "401", "404", "422"},
    ("post", f"{ONE}/messages"): {"200", "201", "401", "404", "422", "429"},
    ("post", f"{ONE}/read"): {"200", "401", "404", "422"},
    ("post", f"{ONE}/archive"): {"200", "401", "404"},
    ("post", f"{ONE}/unarchive"): {"200", "401", "404"},
}


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    # The routes as the app mounts them, documented by the platform's own post-processing.
    app = FastAPI()
    app.include_router(router, prefix=PREFIX)
    install_openapi(app, PREFIX)
    return app.openapi()


@pytest.mark.parametrize(("method", "path"), sorted(EXPECTED))
def test_each_route_lists_its_statuses(document: dict[str, Any], method: str, path: str) -> None:
    responses = document["paths"][path][method]["responses"]
    assert EXPECTED[(method, path)] <= set(responses)
    for code, response in responses.items():
        if int(code) >= 400:
            assert PROBLEM_JSON in response["content"], (method, path, code)
    if "429" in responses:
        assert responses["429"]["headers"]["Retry-After"]["required"] is True


def test_the_start_says_what_happens_to_an_existing_conversation(document: dict[str, Any]) -> None:
    operation = document["paths"][BASE]["post"]
    assert "existed" in operation["responses"]["200"]["description"]
    assert "new message" in operation["description"]
