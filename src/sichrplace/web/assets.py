"""The pages' CSS and JavaScript: npm packages (package-lock.json) and our own files, built by
`sichrplace web build` into content-hashed files with their gzip and brotli twins.

A bundle is the concatenation of its parts, named after the hash of its bytes
(`site.3f2a9c1b0e.js`), so its URL changes whenever its content does and it can be cached for
a year (`immutable`) by browsers and a CDN; `manifest.json` maps each bundle's name to its
file. nginx serves /static/ from the build folder with `gzip_static`/`brotli_static`, so no
request compresses anything.
"""

from __future__ import annotations

import gzip
import hashlib
import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import brotli

HERE = Path(__file__).resolve().parent
SOURCES = HERE / "assets"
MANIFEST = "manifest.json"
PREFIX = "/static/"

# bundle -> its parts, in order: "npm:<path under node_modules>" or a file of web/assets.
BUNDLES: dict[str, tuple[str, ...]] = {
    # Every page: htmx (forms and fragments without a full reload), then web-vitals (the
    # real-user metrics) with our small glue; together under 50 KB compressed (the issue's
    # budget). Two files, not one: each runs as its own task, and one task running both
    # blocked the main thread for 150 ms under Lighthouse's 4x CPU slowdown (TBT 99 ms).
    "htmx.js": ("npm:htmx.org/dist/htmx.min.js",),
    "site.js": ("npm:web-vitals/dist/web-vitals.iife.js", "site.js"),
    "site.css": ("site.css",),
    # Only the map view loads Leaflet (about 40 KB compressed of its own).
    "map.js": ("npm:leaflet/dist/leaflet.js", "map.js"),
    "map.css": ("npm:leaflet/dist/leaflet.css",),
    # The accessibility tests inject it; no page links it.
    "axe.js": ("npm:axe-core/axe.min.js",),
}


@dataclass(frozen=True, slots=True)
class Built:
    name: str  # the bundle, e.g. site.js
    file: str  # its content-hashed file, e.g. site.3f2a9c1b0e.js
    size: int
    gzip_size: int
    brotli_size: int


def _part(spec: str, node_modules: Path) -> bytes:
    path = node_modules / spec[4:] if spec.startswith("npm:") else SOURCES / spec
    data = path.read_bytes()
    return data if data.endswith(b"\n") else data + b"\n"


def build(node_modules: Path, out: Path) -> list[Built]:
    """Write every bundle (with .gz and .br) and the manifest into `out`; files of earlier
    builds stay (pages rendered before a release may still ask for them)."""
    out.mkdir(parents=True, exist_ok=True)
    manifest: dict[str, str] = {}
    built: list[Built] = []
    for name, parts in BUNDLES.items():
        data = b"".join(_part(spec, node_modules) for spec in parts)
        stem, ext = name.rsplit(".", 1)
        digest = hashlib.sha256(data).hexdigest()[:10]
        file = f"{stem}.{digest}.{ext}"
        sizes = [len(data)]
        for suffix, compress in (
            ("", lambda raw: raw),
            (".gz", lambda raw: gzip.compress(raw, compresslevel=9, mtime=0)),
            (".br", lambda raw: brotli.compress(raw, quality=11)),
        ):
            target = out / (file + suffix)
            if target.exists():  # the same name is the same content
                sizes.append(target.stat().st_size)
                continue
            content = compress(data)
            tmp = target.with_suffix(target.suffix + ".tmp")
            tmp.write_bytes(content)
            tmp.replace(target)
            sizes.append(len(content))
        manifest[name] = file
        built.append(Built(name, file, len(data), sizes[2], sizes[3]))
    tmp = out / (MANIFEST + ".tmp")
    tmp.write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    tmp.replace(out / MANIFEST)
    load_manifest.cache_clear()
    return built


@cache
def load_manifest(out: Path) -> dict[str, str]:
    with (out / MANIFEST).open(encoding="utf-8") as fh:
        return dict(json.load(fh))


def url_of(out: Path, name: str) -> str:
    """The URL of bundle `name` (KeyError for an unknown one)."""
    return PREFIX + load_manifest(out)[name]
