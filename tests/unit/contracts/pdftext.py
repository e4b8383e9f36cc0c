"""The text of an fpdf2 PDF, read back through its fonts' ToUnicode maps (no PDF library is
installed; this reads just what fpdf2 writes: Flate streams, Type0 fonts, `(...) Tj`)."""

from __future__ import annotations

import re
import zlib

_OBJ = re.compile(rb"(\d+) 0 obj(.*?)endobj", re.S)
_STREAM_START = re.compile(rb"stream\r?\n")
_STRING = rb"\(((?:\\.|[^\\)])*)\)"
# A font change, a `(...) Tj`, or a `[(...) -12 (...)] TJ` (justified lines).
_SHOWN = re.compile(rb"/(F\d+) [\d.]+ Tf|" + _STRING + rb" Tj|\[((?:\\.|[^\\\]])*)\] TJ", re.S)
_PARTS = re.compile(_STRING, re.S)
_ESCAPES = {b"n": b"\n", b"r": b"\r", b"t": b"\t", b"b": b"\b", b"f": b"\f"}


def _stream(body: bytes) -> bytes:
    # The data is cut by its /Length: a compressed stream may itself end in "\r", which a
    # pattern for the "\r\nendstream" delimiter would swallow (1 in 256 documents).
    length = re.search(rb"/Length (\d+)", body)
    start = _STREAM_START.search(body)
    if length is None or start is None:
        return b""
    data = body[start.end() : start.end() + int(length.group(1))]
    return zlib.decompress(data) if b"/FlateDecode" in body else data


def _literal(raw: bytes) -> bytes:
    out, i = bytearray(), 0
    while i < len(raw):
        c = raw[i : i + 1]
        if c == b"\\":
            nxt = raw[i + 1 : i + 2]
            octal = re.match(rb"[0-7]{1,3}", raw[i + 1 : i + 4])
            if octal:
                out.append(int(octal.group(0), 8))
                i += 1 + len(octal.group(0))
                continue
            out += _ESCAPES.get(nxt, nxt)
            i += 2
            continue
        out += c
        i += 1
    return bytes(out)


def _cmap(data: bytes) -> dict[int, str]:
    mapping: dict[int, str] = {}
    for block in re.findall(rb"beginbfchar(.*?)endbfchar", data, re.S):
        for src, dst in re.findall(rb"<([0-9A-Fa-f]+)>\s*<([0-9A-Fa-f]+)>", block):
            mapping[int(src, 16)] = bytes.fromhex(dst.decode()).decode("utf-16-be")
    for block in re.findall(rb"beginbfrange(.*?)endbfrange", data, re.S):
        for lo, hi, dst in re.findall(
            rb"<([0-9A-Fa-f]+)>\s*<([0-9A-Fa-f]+)>\s*<([0-9A-Fa-f]+)>", block
        ):
            start = int(dst, 16)
            for n, gid in enumerate(range(int(lo, 16), int(hi, 16) + 1)):
                mapping[gid] = chr(start + n)
    return mapping


def text_of(pdf: bytes) -> str:
    """Every shown string, one line per `Tj`, in page order."""
    objects = {int(n): body for n, body in _OBJ.findall(pdf)}
    fonts: dict[bytes, dict[int, str]] = {}
    for body in objects.values():
        for name, ref in re.findall(rb"/(F\d+) (\d+) 0 R", body):
            font = objects.get(int(ref), b"")
            to_unicode = re.search(rb"/ToUnicode (\d+) 0 R", font)
            if to_unicode:
                fonts[name] = _cmap(_stream(objects[int(to_unicode.group(1))]))
    lines: list[str] = []
    for body in objects.values():
        if b"/Length" not in body or b"/ToUnicode" in body:
            continue
        try:
            content = _stream(body)
        except zlib.error:
            continue
        current: dict[int, str] = {}
        for op in _SHOWN.finditer(content):
            if op.group(1):
                current = fonts.get(op.group(1), {})
                continue
            shown = op.group(2) if op.group(2) is not None else op.group(3)
            parts = [shown] if op.group(2) is not None else _PARTS.findall(shown)
            line = ""
            for part in parts:
                raw = _literal(part)
                gids = [int.from_bytes(raw[i : i + 2], "big") for i in range(0, len(raw), 2)]
                line += "".join(current.get(g, "?") for g in gids)
            lines.append(line)
    return "\n".join(lines)
