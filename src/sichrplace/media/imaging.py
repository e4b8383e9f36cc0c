"""Pillow work (synchronous; callers run it in a thread): validate by decoding, make variants.

Validation never trusts the file name or the declared content type: only the JPEG, PNG and
WebP decoders are tried, the pixel count is checked from the header *before* decoding
(decompression bombs), and then the whole image is decoded so truncated or corrupt data
fails here rather than in the job.
"""

from __future__ import annotations

from dataclasses import dataclass
from io import BytesIO

from PIL import Image, ImageOps, UnidentifiedImageError

from sichrplace.kit.i18n import N_, Msg

DECODERS = ("JPEG", "PNG", "WEBP")
_FORMAT_NAMES = {"JPEG": "jpeg", "PNG": "png", "WEBP": "webp"}
_SWAPPED_ORIENTATIONS = {5, 6, 7, 8}  # EXIF orientations that rotate by 90 degrees
_EXIF_ORIENTATION = 0x0112
_LANCZOS = Image.Resampling.LANCZOS


class InvalidImage(Exception):
    """The upload is not an acceptable image; `reason` is safe to show to the client."""

    def __init__(self, reason: Msg) -> None:
        super().__init__(str(reason))
        self.reason = reason


@dataclass(frozen=True, slots=True)
class ProbedImage:
    format: str  # jpeg | png | webp
    width: int
    height: int


@dataclass(frozen=True, slots=True)
class Variant:
    key: str  # the requested width, e.g. "800"
    data: bytes
    width: int
    height: int


def _open(data: bytes, max_pixels: int) -> Image.Image:
    try:
        img = Image.open(BytesIO(data), formats=DECODERS)
    except UnidentifiedImageError as exc:
        raise InvalidImage(N_("not a JPEG, PNG or WebP image")) from exc
    except Image.DecompressionBombError as exc:
        raise InvalidImage(N_("image has more than {n} pixels", n=max_pixels)) from exc
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise InvalidImage(N_("corrupt image")) from exc
    width, height = img.size
    if width <= 0 or height <= 0 or width * height > max_pixels:
        img.close()
        raise InvalidImage(N_("image has more than {n} pixels", n=max_pixels))
    return img


def probe(data: bytes, *, max_pixels: int) -> ProbedImage:
    """Decode the whole image (cheaply: JPEGs at 1/8 scale) or raise InvalidImage."""
    img = _open(data, max_pixels)
    with img:
        width, height = img.size  # the real size: draft() below changes img.size
        if img.format == "JPEG":
            # DCT scaling still entropy-decodes every scan, so truncation is still detected,
            # at 1/64 of the memory.
            img.draft("RGB", (max(1, img.width // 8), max(1, img.height // 8)))
        try:
            img.load()
        except (OSError, SyntaxError, ValueError, EOFError) as exc:
            raise InvalidImage(N_("corrupt or truncated image")) from exc
        fmt = _FORMAT_NAMES[str(img.format)]
        return ProbedImage(format=fmt, width=width, height=height)


def _target_size(width: int, height: int, max_width: int) -> tuple[int, int]:
    """Scale to max_width wide, never up; height keeps the aspect ratio."""
    if width <= max_width:
        return width, height
    return max_width, max(1, round(height * max_width / width))


def make_variants(
    data: bytes, *, widths: list[int], quality: int, max_pixels: int
) -> list[Variant]:
    """WebP variants at each width (no upscaling), EXIF orientation applied, metadata dropped."""
    img = _open(data, max_pixels)
    with img:
        widest = max(widths)
        if img.format == "JPEG":
            swapped = img.getexif().get(_EXIF_ORIENTATION) in _SWAPPED_ORIENTATIONS
            w, h = (img.height, img.width) if swapped else img.size
            need_w, need_h = _target_size(w, h, widest)
            if swapped:
                need_w, need_h = need_h, need_w
            img.draft("RGB", (need_w, need_h))  # decode no larger than the biggest variant needs
        try:
            oriented = ImageOps.exif_transpose(img)
        except (OSError, SyntaxError, ValueError, EOFError) as exc:
            raise InvalidImage(N_("corrupt or truncated image")) from exc
        icc = img.info.get("icc_profile")
        has_alpha = oriented.mode in ("RGBA", "LA", "PA") or (
            oriented.mode == "P" and "transparency" in oriented.info
        )
        base = oriented.convert("RGBA" if has_alpha else "RGB")
        variants = []
        for width in sorted(set(widths)):
            size = _target_size(base.width, base.height, width)
            resized = base if size == base.size else base.resize(size, _LANCZOS, reducing_gap=3.0)
            out = BytesIO()
            # No exif= and no xmp=: camera metadata (GPS, serial numbers) is not published.
            resized.save(out, "WEBP", quality=quality, method=4, icc_profile=icc)
            variants.append(Variant(str(width), out.getvalue(), size[0], size[1]))
        return variants
