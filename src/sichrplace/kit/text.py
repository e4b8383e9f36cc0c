"""The one rule for text entering the platform: what Postgres and our JSON documents can hold.

Postgres text cannot hold NUL, and UTF-8 cannot hold a lone UTF-16 surrogate (JSON "\\ud800"
decodes in Python but fails on the way to the database); invalid UTF-8 behind a %-escape is
not text. `text_problem` says what is wrong with a string, the `*_problem` helpers find the
first offending field of a query string, a path or a decoded JSON value.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import unquote_to_bytes

from sichrplace.kit.i18n import N_, Msg

_BAD_CHARS = re.compile("[\x00\ud800-\udfff]")
NUL = N_("must not contain a NUL character")
SURROGATE = N_("must not contain a lone UTF-16 surrogate")
NOT_UTF8 = N_("must be valid UTF-8")


def text_problem(value: str) -> Msg | None:
    """Why `value` may not be stored, or None when it may."""
    match = _BAD_CHARS.search(value)
    if match is None:
        return None
    return NUL if match.group() == "\x00" else SURROGATE


def _bytes_problem(raw: bytes) -> Msg | None:
    if b"\x00" in raw:
        return NUL
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        return NOT_UTF8
    return None


def query_problem(query_string: bytes) -> tuple[str, Msg] | None:
    """(field, message) for the first bad name or value of a raw query string.

    The hot path (no %-escape, no NUL byte) is one byte scan; only escaped strings are split.
    """
    if b"%" not in query_string and b"\x00" not in query_string:
        return None
    for pair in query_string.split(b"&"):
        name, _, value = pair.partition(b"=")
        name_raw = unquote_to_bytes(name.replace(b"+", b" "))
        field = name_raw.decode("utf-8", "replace") or "query"
        problem = _bytes_problem(name_raw) or _bytes_problem(
            unquote_to_bytes(value.replace(b"+", b" "))
        )
        if problem is not None:
            return field.replace("\x00", "\\x00"), problem
    return None


def path_problem(raw_path: bytes) -> Msg | None:
    """Why a raw (still %-escaped) request path is not text, or None."""
    if b"%" not in raw_path and b"\x00" not in raw_path:
        return None
    return _bytes_problem(unquote_to_bytes(raw_path))


def json_problem(value: Any, field: str = "") -> tuple[str, Msg] | None:
    """(field, message) for the first bad string or key in a decoded JSON value, with fields
    named like the validation errors (`full_name`, `items.0.name`; `body` for the whole)."""
    if isinstance(value, str):
        problem = text_problem(value)
        return (field or "body", problem) if problem is not None else None
    if isinstance(value, dict):
        for key, item in value.items():
            name = f"{field}.{key}" if field else str(key)
            problem = text_problem(key)
            if problem is not None:
                return (field or "body", N_("key {problem}", problem=problem))
            found = json_problem(item, name)
            if found is not None:
                return found
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found = json_problem(item, f"{field}.{index}" if field else str(index))
            if found is not None:
                return found
    return None
