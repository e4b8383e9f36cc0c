"""kit/text.py: the one rule for text that may be stored."""

from __future__ import annotations

from sichrplace.kit.i18n import N_
from sichrplace.kit.text import (
    NOT_UTF8,
    NUL,
    SURROGATE,
    json_problem,
    path_problem,
    query_problem,
    text_problem,
)


def test_text() -> None:
    assert text_problem("Straße 7, München") is None
    assert text_problem("a\x00b") == NUL
    assert text_problem("a\ud800") == SURROGATE
    assert text_problem("\U0001f600") is None  # a pair encodes fine


def test_query() -> None:
    assert query_problem(b"city=Berlin&q=Altbau") is None
    assert query_problem(b"city=M%C3%BCnchen&q=a+b") is None
    assert query_problem(b"q=%00") == ("q", NUL)
    assert query_problem(b"x=1&city=Ber%00lin") == ("city", NUL)
    assert query_problem(b"q=%FF") == ("q", NOT_UTF8)
    assert query_problem(b"a%00=1") == ("a\\x00", NUL)


def test_path() -> None:
    assert path_problem(b"/api/v1/listings/abc") is None
    assert path_problem(b"/api/v1/listings/M%C3%BC") is None
    assert path_problem(b"/api/v1/listings/%00") == NUL
    assert path_problem(b"/api/v1/listings/%C3%28") == NOT_UTF8


def test_json() -> None:
    assert json_problem({"a": ["b", {"c": "d"}], "n": 1, "z": None}) is None
    assert json_problem({"full_name": "x\x00"}) == ("full_name", NUL)
    assert json_problem({"a": [1, {"c": "\udc00"}]}) == (
        "a.1.c",
        SURROGATE,
    )
    assert json_problem({"a": {"k\x00": 1}}) == ("a", N_("key {problem}", problem=NUL))
    assert json_problem("\x00") == ("body", NUL)
