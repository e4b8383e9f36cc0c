"""The rendered nginx config: brotli when the module exists, security headers in every
location, CORS only by setting, HSTS believed only from trusted TLS proxies."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from pydantic import ValidationError

from sichrplace.config import EdgeSettings, Settings
from sichrplace.stack import render
from sichrplace.stack.layout import Layout

INCLUDE = "include {conf}/edge-headers.conf;"


def _render(tmp_path: Path, **edge: list[str]) -> tuple[str, str, Layout]:
    settings = Settings()
    settings.edge = EdgeSettings.model_validate(edge)
    layout = Layout(tmp_path)
    return render.nginx_conf(settings, layout, [1, 2]), render.edge_headers_conf(settings), layout


def _blocks(conf: str, opener: str) -> list[str]:
    """The text of each `{opener} … { … }` block (nested braces counted)."""
    blocks = []
    for match in re.finditer(rf"^[ \t]*({opener}\b[^{{]*)\{{", conf, re.M):
        depth, i = 1, match.end()
        while depth:
            depth += {"{": 1, "}": -1}.get(conf[i], 0)
            i += 1
        blocks.append(conf[match.start(1) : i])
    return blocks


def test_every_location_with_its_own_add_header_includes_the_security_headers(
    tmp_path: Path,
) -> None:
    conf, _, layout = _render(tmp_path)
    include = INCLUDE.format(conf=layout.conf)
    # add_header is not inherited into a location that has one of its own.
    own = [b for b in _blocks(conf, "location") if "add_header" in b]
    assert len(own) >= 4  # 405 (Allow), 429, 503 (Retry-After), /media/ (Cache-Control)
    for block in own:
        assert include in block, block.splitlines()[0]
    # The public server (the other one is the exporter's stub_status on a unix socket).
    (server,) = [b for b in _blocks(conf, "server") if "listen unix:" not in b]
    # At the server level too, for every other location.
    assert include in server.split("\n        location")[0]


def test_security_headers_are_always_sent_and_csp_only_without_the_apis_own(
    tmp_path: Path,
) -> None:
    conf, headers, _ = _render(tmp_path)
    for line in (
        "add_header X-Content-Type-Options nosniff always;",
        "add_header X-Frame-Options DENY always;",
        "add_header Referrer-Policy no-referrer always;",
        "add_header Content-Security-Policy $edge_csp always;",
        "add_header Strict-Transport-Security $edge_hsts always;",
    ):
        assert line in headers
    (csp_map,) = _blocks(conf, r"map \$upstream_http_content_security_policy")
    assert "\"\" \"default-src 'none'; frame-ancestors 'none'\";" in csp_map
    assert 'default "";' in csp_map  # the API's own CSP: no second one


def test_brotli_only_when_the_module_is_installed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    module = tmp_path / "ngx_http_brotli_filter_module.so"
    static_module = tmp_path / "ngx_http_brotli_static_module.so"
    monkeypatch.setattr(render, "BROTLI_MODULE", module)
    monkeypatch.setattr(render, "BROTLI_STATIC_MODULE", static_module)
    conf, _, _ = _render(tmp_path)
    assert not re.search(r"^\s*(load_module|brotli)", conf, re.M)
    module.touch()
    conf, _, _ = _render(tmp_path)
    assert f"\nload_module {module};" in conf
    assert not re.search(r"^\s*(load_module \S+static|brotli_static)", conf, re.M)
    static_module.touch()
    conf, _, _ = _render(tmp_path)
    assert f"\nload_module {static_module};" in conf
    assert "\n            brotli_static on;" in conf  # the web assets' .br files
    for line in ("brotli on;", "brotli_comp_level 5;", "brotli_min_length 1024;"):
        assert f"\n    {line}" in conf
    gzip_types = re.search(r"gzip_types (.*);", conf)
    brotli_types = re.search(r"brotli_types (.*);", conf)
    assert gzip_types
    assert brotli_types
    assert brotli_types.group(1) == gzip_types.group(1)


def test_no_cors_by_default(tmp_path: Path) -> None:
    conf, headers, _ = _render(tmp_path)
    assert "Access-Control" not in headers
    assert "Vary Origin" not in headers
    assert "$cors" not in conf


def test_cors_echoes_only_the_allowed_origins_and_answers_their_preflight(
    tmp_path: Path,
) -> None:
    origins = ["https://app.sichrplace.de", "http://localhost:3000"]
    conf, headers, _ = _render(tmp_path, cors_allow_origins=origins)
    (origin_map,) = _blocks(conf, r"map \$http_origin")
    assert 'default "";' in origin_map
    for origin in origins:
        assert f'"{origin}" $http_origin;' in origin_map
    assert "if ($cors_preflight) {\n            return 204;" in conf
    assert "add_header Access-Control-Allow-Origin $cors_origin always;" in headers
    assert "add_header Vary Origin always;" in headers
    assert "Access-Control-Allow-Credentials" not in headers  # bearer tokens, no cookies


@pytest.mark.parametrize(
    "origin",
    [
        "*",
        "https://app.example.de/",
        "https://app.example.de/path",
        "HTTPS://APP.EXAMPLE.DE",
        'https://a.example.de" $x',
        "https://a.example.de; evil",
        "ftp://a.example.de",
        "null",
    ],
)
def test_an_origin_that_is_not_one_is_refused(origin: str) -> None:
    with pytest.raises(ValidationError):
        EdgeSettings(cors_allow_origins=[origin])


def test_forwarded_https_is_believed_only_from_trusted_tls_proxies(tmp_path: Path) -> None:
    conf, _, _ = _render(tmp_path)
    (geo,) = _blocks(conf, r"geo \$edge_tls_proxy")
    assert re.sub(r"\s+", " ", geo) == "geo $edge_tls_proxy { default 0; }"
    assert "proxy_set_header X-Forwarded-Proto $edge_scheme;" in conf
    (hsts,) = _blocks(conf, r"map \$edge_scheme")
    assert 'https "max-age=63072000; includeSubDomains";' in hsts
    conf, _, _ = _render(tmp_path, trusted_tls_proxies=["10.1.2.3", "192.168.0.0/16"])
    (geo,) = _blocks(conf, r"geo \$edge_tls_proxy")
    assert "10.1.2.3/32 1;" in geo
    assert "192.168.0.0/16 1;" in geo
    with pytest.raises(ValidationError):
        EdgeSettings(trusted_tls_proxies=["proxy.example.de"])
