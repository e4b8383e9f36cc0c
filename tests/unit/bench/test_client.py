"""The benchmark's HTTP/1.1 client: requests as bytes, and answers read from a stream (a
Content-Length body, a chunked one, one that ends with the connection), without a server."""

from __future__ import annotations

import asyncio

import pytest

from sichrplace.bench.client import (
    ProtocolError,
    format_request,
    host_port,
    keeps_alive,
    parse_head,
    read_answer,
)


def _stream(data: bytes) -> asyncio.StreamReader:
    reader = asyncio.StreamReader()
    reader.feed_data(data)
    reader.feed_eof()
    return reader


def test_a_post_carries_its_length_and_body() -> None:
    raw = format_request(
        "POST", "/api/v1/viewings", host="127.0.0.1:58080", headers={"X-A": "1"}, body=b"{}"
    )
    head, _, body = raw.partition(b"\r\n\r\n")
    assert head.split(b"\r\n") == [
        b"POST /api/v1/viewings HTTP/1.1",
        b"Host: 127.0.0.1:58080",
        b"X-A: 1",
        b"Content-Length: 2",
    ]
    assert body == b"{}"


def test_a_get_has_no_length_and_a_bodiless_post_has_zero() -> None:
    assert b"Content-Length" not in format_request("GET", "/healthz", host="h")
    assert b"Content-Length: 0\r\n" in format_request("POST", "/_fake/approve/pi_1", host="h")


def test_base_urls_are_plain_http_only() -> None:
    assert host_port("http://127.0.0.1:58080") == ("127.0.0.1", 58080)
    assert host_port("http://localhost") == ("localhost", 80)
    with pytest.raises(ValueError, match="plain http"):
        host_port("https://example.org")


def test_the_head_is_parsed_with_lower_case_names() -> None:
    status, headers = parse_head(
        b"HTTP/1.1 409 Conflict\r\nContent-Type: application/problem+json\r\n"
        b"Content-Length: 7\r\n\r\n"
    )
    assert status == 409
    assert headers == {"content-type": "application/problem+json", "content-length": "7"}
    with pytest.raises(ProtocolError):
        parse_head(b"SSH-2.0-OpenSSH\r\n\r\n")
    with pytest.raises(ProtocolError):
        parse_head(b"HTTP/1.1 200 OK\r\nno colon here\r\n\r\n")


async def test_a_content_length_body_leaves_the_next_answer_in_the_stream() -> None:
    reader = _stream(
        b"HTTP/1.1 201 Created\r\nContent-Length: 5\r\n\r\nhello"
        b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
    )
    first = await read_answer(reader)
    second = await read_answer(reader)
    assert (first.status, first.body) == (201, b"hello")
    assert (second.status, second.body) == (200, b"ok")


async def test_a_chunked_body_is_joined_and_trailers_are_skipped() -> None:
    reader = _stream(
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"4\r\nWiki\r\n6;ext=1\r\npedia \r\n0\r\nX-Trailer: 1\r\n\r\n"
        b"HTTP/1.1 204 No Content\r\n\r\n"
    )
    answer = await read_answer(reader)
    assert answer.body == b"Wikipedia "
    assert (await read_answer(reader)).status == 204


async def test_a_body_without_length_runs_to_the_end_only_when_the_server_closes() -> None:
    closing = await read_answer(_stream(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nbye"))
    assert closing.body == b"bye"
    assert not keeps_alive(closing.headers)
    with pytest.raises(ProtocolError):
        await read_answer(_stream(b"HTTP/1.1 200 OK\r\n\r\nforever"))


async def test_a_cut_answer_is_an_error_not_a_short_body() -> None:
    with pytest.raises(asyncio.IncompleteReadError):
        await read_answer(_stream(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort"))
