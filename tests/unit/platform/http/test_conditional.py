"""If-None-Match against a strong ETag, by weak comparison (RFC 9110 §13.1.2)."""

from __future__ import annotations

import pytest

from sichrplace.platform.http.conditional import etag_of, none_match

TAG = etag_of(b'{"id":1}')


def test_the_etag_is_strong_and_follows_the_bytes() -> None:
    assert TAG[0] == TAG[-1] == '"'
    assert not TAG.startswith("W/")
    assert etag_of(b'{"id":1}') == TAG
    assert etag_of(b'{"id":2}') != TAG


@pytest.mark.parametrize(
    ("header", "matches"),
    [
        (TAG, True),
        (f"W/{TAG}", True),  # e.g. after a gzip proxy weakened it
        (f' "a" , {TAG} ', True),
        ("*", True),
        (" * ", True),
        ('"a", W/"b"', False),
        (TAG.strip('"'), False),  # not a quoted tag
        ("", False),
        (None, False),
    ],
)
def test_if_none_match(header: str | None, matches: bool) -> None:
    assert none_match(header, TAG) is matches
