"""The edge's nginx config: what is cached and keyed how, what skips it, what is logged for
the edge program, the settings' switches, and that nginx accepts the whole config."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from sichrplace.config import Settings
from sichrplace.stack import render
from sichrplace.stack.edge import conf
from sichrplace.stack.layout import Layout


def _settings(tmp_path: Path, **edge: object) -> Settings:
    settings = Settings()
    settings.stack.data_dir = tmp_path
    settings.edge = settings.edge.model_copy(
        update={"cache_dir": tmp_path / "nginx" / "cache" / "edge", **edge}
    )
    return settings


def _files(settings: Settings, tmp_path: Path) -> conf.EdgeConf:
    return conf.render(settings, Layout(tmp_path))


def _map_regexes(text: str, variable: str) -> list[str]:
    """The regular expressions of the map that sets `variable`, as Python can run them."""
    block = re.search(rf"map [^{{]*\${variable} \{{(.*?)\n\}}", text, re.S)
    assert block, variable
    found = re.findall(r'^\s*"~(\*?)(.*)" \S+;$', block.group(1), re.M)
    # PCRE's (?<name>…) is Python's (?P<name>…).
    python = [re.sub(r"\(\?<(\w)", r"(?P<\1", p) for _, p in found]
    return [("(?i)" if ci else "") + p for (ci, _), p in zip(found, python, strict=True)]


def _matches(patterns: list[str], value: str) -> bool:
    return any(re.search(p, value) for p in patterns)


def test_the_cache_zone_and_what_every_cached_location_does(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    files = _files(settings, tmp_path)
    assert (
        f"proxy_cache_path {tmp_path}/nginx/cache/edge levels=1:2 keys_zone=edge:64m\n"
        "    max_size=1024m inactive=900s use_temp_path=off;"
    ) in files.cache
    for line in (
        "proxy_cache edge;",
        'proxy_cache_key "$host$request_uri|$problem_lang";',
        'proxy_set_header Accept-Encoding "";',
        "proxy_set_header If-None-Match $edge_if_none_match;",
        "proxy_cache_bypass $edge_skip_auth $edge_skip_session $edge_skip_client;",
        "proxy_no_cache $edge_skip_auth $edge_skip_session $edge_skip_client;",
        "proxy_cache_revalidate on;",
        "proxy_cache_lock on;",
        "proxy_cache_use_stale error timeout updating http_500 http_502 http_503 http_504;",
        "proxy_hide_header X-Request-ID;",
        "proxy_hide_header Surrogate-Key;",
        "add_header X-Request-ID $req_id always;",
        "add_header X-Cache $upstream_cache_status always;",
        f"include {tmp_path}/conf/edge-headers.conf;",  # it has add_headers of its own
        f"access_log {tmp_path}/logs/edge-fill.log edge_fill if=$edge_fill;",
        f"access_log {tmp_path}/logs/nginx-access.log json buffer=64k flush=1s;",
    ):
        assert f"\n{line}\n" in files.proxy, line
    assert "proxy_cache_valid" not in files.proxy  # the TTL is the API's Cache-Control


def test_the_public_reads_are_cached_and_detail_views_logged(tmp_path: Path) -> None:
    files = _files(_settings(tmp_path), tmp_path)
    include = f"include {tmp_path}/conf/edge-proxy.conf;"
    for path in conf.EXACT_PATHS:
        assert f"location = {path} {{\n    {include}\n}}" in files.locations
    detail = re.compile(conf.DETAIL_PATTERN)
    listing = "0b9d6f0e-5a4c-4c1e-9f6e-2b7f3c1d9a10"
    assert detail.match(f"/api/v1/listings/{listing}")
    for other in ("/api/v1/listings/mine", f"/api/v1/listings/{listing}/stats"):
        assert not detail.match(other)
    assert re.match(conf.IMAGES_PATTERN, f"/api/v1/listings/{listing}/images/{listing}")
    assert "/logs/edge-views.log edge_view if=$edge_view" in files.locations
    assert "/events" not in files.locations
    assert "/api/v1/listings/mine" not in files.locations


def test_credentials_and_bypass_requests_skip_the_cache(tmp_path: Path) -> None:
    cache = _files(_settings(tmp_path), tmp_path).cache
    session = _map_regexes(cache, "edge_skip_session")
    assert _matches(session, "sp_lang=de; __Host-sp_access=eyJ")
    assert _matches(session, "sp_refresh=x")
    assert not _matches(session, "sp_lang=de; __Host-sp_csrf=x")
    client = _map_regexes(cache, "edge_skip_client")
    assert _matches(client, "1|")
    assert _matches(client, "|no-cache")
    assert not _matches(client, "|max-age=0")
    assert 'map $http_authorization $edge_skip_auth {\n    default 1;\n    "" 0;' in cache


def test_without_client_bypass_the_edge_ignores_the_headers_too(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    settings.cache = settings.cache.model_copy(update={"client_bypass": False})
    assert _map_regexes(_files(settings, tmp_path).cache, "edge_skip_client") == []


def test_views_fills_and_the_clients_cache_control(tmp_path: Path) -> None:
    cache = _files(_settings(tmp_path), tmp_path).cache
    view = _map_regexes(cache, "edge_view")
    assert _matches(view, "HIT|200|GET|")
    assert _matches(view, "STALE|304|GET|0")
    assert not _matches(view, "HIT|200|GET|1")  # a synthetic monitor's
    assert not _matches(view, "HIT|200|GET| True ")
    assert not _matches(view, "MISS|200|GET|")  # the API counted it
    assert not _matches(view, "HIT|200|HEAD|")
    fill = _map_regexes(cache, "edge_fill")
    assert _matches(fill, "MISS|200|listing-1")
    assert _matches(fill, "EXPIRED|304|listings city-berlin")
    assert not _matches(fill, "MISS|200|")  # nothing to index
    assert not _matches(fill, "BYPASS|200|listing-1")
    (strip,) = _map_regexes(cache, "edge_client_cache_control")
    found = re.search(strip, "public, max-age=10, s-maxage=300")
    assert found
    assert found["cc_head"] + found["cc_tail"] == "public, max-age=10"


def test_switched_off_or_behind_fastly(tmp_path: Path) -> None:
    off = _files(_settings(tmp_path, cache_enabled=False), tmp_path)
    assert "proxy_cache_path" not in off.cache
    assert "location" not in off.locations
    assert "proxy_hide_header Surrogate-Key;" in off.locations  # never to clients
    fastly = _files(_settings(tmp_path, purgers=["local", "fastly"]), tmp_path)
    # A real CDN in front needs the keys and the s-maxage.
    assert "Surrogate-Key" not in fastly.proxy + fastly.locations
    assert "$edge_client_cache_control" not in fastly.proxy


def test_nginx_conf_includes_the_edge_and_logs_the_cache_status(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    text = render.nginx_conf(settings, Layout(tmp_path), [58001, 58002])
    assert f"include {tmp_path}/conf/edge-cache.conf;" in text
    assert f"include {tmp_path}/conf/edge-locations.conf;" in text
    assert '"cache":"$upstream_cache_status"' in text
    assert text.index("edge-locations.conf") < text.index("location / {")


@pytest.mark.skipif(not Path("/usr/sbin/nginx").exists(), reason="nginx is not installed")
def test_nginx_accepts_the_rendered_config(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    layout = Layout(tmp_path)
    for folder in (layout.conf, layout.logs, layout.nginx / "tmp", layout.run):
        folder.mkdir(parents=True, exist_ok=True)
    render.write_nginx_conf(settings, layout, [58001, 58002])
    done = subprocess.run(
        [
            "/usr/sbin/nginx",
            "-t",
            "-q",
            "-p",
            str(layout.nginx),
            "-c",
            str(layout.conf / "nginx.conf"),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    shutil.rmtree(layout.nginx / "cache", ignore_errors=True)
