"""The OpenAPI document states the errors the server really sends (no server needed)."""

from __future__ import annotations

import json
from typing import Any

import jsonschema_rs
import pytest
from fastapi.exceptions import RequestValidationError

from sichrplace.app import API_PREFIX, create_app
from sichrplace.kit import errors
from sichrplace.kit.errors import PROBLEM_JSON, problem_document
from sichrplace.kit.i18n import N_
from sichrplace.platform.http.openapi import PROBLEM_REF

METHODS = {"get", "post", "put", "patch", "delete"}


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    return create_app().openapi()


def operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method.upper(), path, op)
        for path, ops in document["paths"].items()
        for method, op in ops.items()
        if method in METHODS
    ]


def problem_validator(document: dict[str, Any]) -> Any:
    schemas = document["components"]["schemas"]
    schema = {**schemas["Problem"], "$defs": schemas}
    text = json.dumps(schema).replace("#/components/schemas/", "#/$defs/")
    return jsonschema_rs.validator_for(json.loads(text))


def test_no_fastapi_validation_error_schema_is_left(document: dict[str, Any]) -> None:
    text = json.dumps(document)
    assert "HTTPValidationError" not in text
    assert "#/components/schemas/ValidationError" not in text


def test_every_error_response_is_problem_json_with_the_problem_schema(
    document: dict[str, Any],
) -> None:
    for method, path, op in operations(document):
        for code, response in op["responses"].items():
            if int(code) >= 400:
                assert response["content"] == {PROBLEM_JSON: {"schema": {"$ref": PROBLEM_REF}}}, (
                    method,
                    path,
                    code,
                )


def test_every_authenticated_operation_declares_401_with_www_authenticate(
    document: dict[str, Any],
) -> None:
    authenticated = [(m, p, op) for m, p, op in operations(document) if op.get("security")]
    assert len(authenticated) >= 6
    for method, path, op in authenticated:
        assert "401" in op["responses"], (method, path)
        assert op["responses"]["401"]["headers"]["WWW-Authenticate"]["required"] is True


def test_role_restricted_and_looked_up_operations_declare_403_and_404(
    document: dict[str, Any],
) -> None:
    paths = document["paths"]
    assert "403" in paths[f"{API_PREFIX}/listings"]["post"]["responses"]
    assert {"403", "404"} <= set(paths[f"{API_PREFIX}/admin/users/{{user_id}}"]["get"]["responses"])
    for method in ("get", "patch", "delete"):
        assert "404" in paths[f"{API_PREFIX}/listings/{{listing_id}}"][method]["responses"]
    assert "409" in paths[f"{API_PREFIX}/auth/register"]["post"]["responses"]
    assert "429" in paths[f"{API_PREFIX}/auth/login"]["post"]["responses"]


def test_bodies_declare_400_413_422_and_api_routes_503_with_retry_after(
    document: dict[str, Any],
) -> None:
    for method, path, op in operations(document):
        responses = op["responses"]
        if "requestBody" in op:
            assert {"400", "413", "422"} <= set(responses), (method, path)
            if "application/json" in op["requestBody"]["content"]:
                assert "415" in responses, (method, path)
        if path.startswith(API_PREFIX):
            assert responses["503"]["headers"]["Retry-After"]["required"] is True, (method, path)
        if "429" in responses:
            assert responses["429"]["headers"]["Retry-After"]["required"] is True


def test_the_problem_schema_accepts_what_the_server_sends(document: dict[str, Any]) -> None:
    validator = problem_validator(document)
    sent = [
        problem_document(404, slug="not-found"),
        problem_document(422, slug="validation-error", detail=N_("x"), instance="/api/v1/me"),
        errors.Unprocessable.field("rooms", N_("must be a whole or half number")).document("/x"),
        errors.TooManyRequests(3).document(),
        errors.Unauthorized().document("/api/v1/me"),
    ]
    for body in sent:
        validator.validate(body)
    required = set(document["components"]["schemas"]["Problem"]["required"])
    assert required == {"type", "title", "status", "detail"}
    assert set(document["components"]["schemas"]["Problem"]["properties"]) == {
        "type",
        "title",
        "status",
        "detail",
        "instance",
        "errors",
    }


async def test_the_problem_schema_accepts_a_validation_answer(document: dict[str, Any]) -> None:
    from starlette.requests import Request

    from sichrplace.platform.http.problems import _handle_validation

    scope = {
        "type": "http",
        "method": "POST",
        "path": "/api/v1/x",
        "headers": [],
        "query_string": b"",
    }
    exc = RequestValidationError(
        [{"type": "missing", "loc": ("body", "title"), "msg": "Field required", "input": None}]
    )
    response = await _handle_validation(Request(scope), exc)
    assert response.media_type == PROBLEM_JSON
    problem_validator(document).validate(json.loads(bytes(response.body)))
    with pytest.raises(jsonschema_rs.ValidationError):
        problem_validator(document).validate({"detail": [{"loc": ["body"], "msg": "x"}]})


def test_constraints_are_stated(document: dict[str, Any]) -> None:
    schemas = document["components"]["schemas"]
    password = schemas["RegisterIn"]["properties"]["password"]
    assert password["minLength"] == 10
    rooms = schemas["ListingCreate"]["properties"]["rooms"]
    assert rooms["multipleOf"] == 0.5
    assert rooms["minimum"] >= 0.5
    assert schemas["ListingCreate"]["properties"]["postal_code"]["pattern"] == "^[0-9]{5}$"
    role = schemas["RegisterIn"]["properties"]["role"]
    assert role["enum"] == ["tenant", "landlord"]
    params = {
        p["name"]: p
        for p in document["paths"][f"{API_PREFIX}/search/listings"]["get"]["parameters"]
    }
    assert "pattern" in params["energy_class_max"]["schema"]
    assert params["limit"]["schema"]["maximum"] == 100
