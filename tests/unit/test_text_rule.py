"""kit/text.py: the one rule for text that may be stored."""

from __future__ import annotations

from sichrplace.kit.text import json_problem, path_problem, query_problem, text_problem


def test_text() -> None:
    assert text_problem("Straße 7, München") is None
    assert text_problem("a\x00b") == "must not contain a NUL character"
    assert text_problem("a\ud800") == "must not contain a lone UTF-16 surrogate"
    assert text_problem("\U0001f600") is None  # a pair encodes fine


def test_query() -> None:
    assert query_problem(b"city=Berlin&q=Altbau") is None
    assert query_problem(b"city=M%C3%BCnchen&q=a+b") is None
    assert query_problem(b"q=%00") == ("q", "must not contain a NUL character")
    assert query_problem(b"x=1&city=Ber%00lin") == ("city", "must not contain a NUL character")
    assert query_problem(b"q=%FF") == ("q", "must be valid UTF-8")
    assert query_problem(b"a%00=1") == ("a\\x00", "must not contain a NUL character")


def test_path() -> None:
    assert path_problem(b"/api/v1/listings/abc") is None
    assert path_problem(b"/api/v1/listings/M%C3%BC") is None
    assert path_problem(b"/api/v1/listings/%00") == "must not contain a NUL character"
    assert path_problem(b"/api/v1/listings/%C3%28") == "must be valid UTF-8"


def test_json() -> None:
    assert json_problem({"a": ["b", {"c": "d"}], "n": 1, "z": None}) is None
    assert json_problem({"full_name": "x\x00"}) == ("full_name", "must not contain a NUL character")
    assert json_problem({"a": [1, {"c": "\udc00"}]}) == (
        "a.1.c",
        "must not contain a lone UTF-16 surrogate",
    )
    assert json_problem({"a": {"k\x00": 1}}) == ("a", "key must not contain a NUL character")
    assert json_problem("\x00") == ("body", "must not contain a NUL character")
