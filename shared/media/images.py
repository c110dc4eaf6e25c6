"""Image decoding for embedding: checked against limits, always returned as 8-bit RGB.

The API calls :func:`check_image` to validate a submitted image and the workers call
:func:`decode_image` to decode one for embedding, possibly from several threads at once,
so nothing here touches Pillow's global settings (``Image.MAX_IMAGE_PIXELS``,
``ImageFile.LOAD_TRUNCATED_IMAGES``): limits are checked from the header before any
pixel is decoded, and warnings are only filtered locally.
"""

from __future__ import annotations

import contextlib
import io
import warnings
from dataclasses import dataclass

import numpy as np
from PIL import ExifTags, Image, ImageOps, UnidentifiedImageError

from shared.media.errors import MediaError
from shared.media.jpeg_check import check_jpeg

ALLOWED_FORMATS: frozenset[str] = frozenset({"JPEG", "PNG", "WEBP", "GIF", "BMP", "TIFF"})

# Multi-picture JPEGs (many phone cameras) open as "MPO" through the JPEG plugin (MPO
# is no format `Image.open` can be asked for); they are JPEGs to us.
_OPEN_FORMATS = sorted(ALLOWED_FORMATS)
_ALIASES = {"MPO": "JPEG"}
_WHITE = (255, 255, 255)
_DRAFT_SCALES = (8, 4, 2, 1)  # what libjpeg can decode at, as fractions of the full size
# Proving a non-JPEG image whole needs a decode; a small draft size keeps that cheap.
CHECK_SIDE = 64
# EXIF orientations that turn the image a quarter (width and height swap).
_QUARTER_TURNS = frozenset({5, 6, 7, 8})
# Data starting like an accepted format but unidentifiable is damaged, not unsupported.
_SIGNATURES = (b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n", b"GIF87a", b"GIF89a", b"II*\x00",
               b"MM\x00*", b"RIFF")


@dataclass(frozen=True)
class ImageLimits:
    """What an image may be.

    Attributes:
        max_bytes: Largest encoded size accepted.
        max_pixels: Largest ``width * height``; above it the image is treated as a
            decompression bomb and refused from its header.
        max_side: Largest width or height.
    """

    max_bytes: int = 20 * 1024 * 1024
    max_pixels: int = 40_000_000
    max_side: int = 12_000


@dataclass(frozen=True)
class ImageInfo:
    """What the header said about an image.

    Attributes:
        format: Pillow's format name, one of :data:`ALLOWED_FORMATS`.
        width: Full-size width after EXIF orientation (before any ``max_side``).
        height: Full-size height after EXIF orientation (before any ``max_side``).
        mode: Pillow's mode of the stored pixels (``"RGB"``, ``"P"``, ``"I;16"``...).
    """

    format: str
    width: int
    height: int
    mode: str


def decode_image(
    data: bytes, limits: ImageLimits, *, min_side: int | None = None
) -> tuple[Image.Image, ImageInfo]:
    """Decode an encoded image into an upright 8-bit RGB image.

    Every pixel is decoded, so truncated data is detected. Transparency is composited
    onto white, 16-bit and float images are scaled to 8 bits by their range, EXIF
    orientation is applied and animated images give their first frame.

    Args:
        data: The encoded image.
        limits: Size limits checked before decoding.
        min_side: When given, the image is decoded no bigger than a consumer
            needing this shorter side requires: JPEGs at a reduced scale, then an
            integer box reduction, so the shorter side ends in ``[min_side,
            2 * min_side)`` (never enlarged). The consumer resamples exactly once.

    Returns:
        The RGB image and what its header said.

    Raises:
        MediaError: ``empty``, ``too_large``, ``unsupported_format``,
            ``decompression_bomb``, ``too_large_dimensions``, ``truncated`` or
            ``corrupt``.
    """
    img, fmt = _open_checked(data, limits)
    return _decode_opened(img, fmt, data, min_side)


def _decode_opened(img: Image.Image, fmt: str, data: bytes, min_side: int | None
                   ) -> tuple[Image.Image, ImageInfo]:
    """:func:`decode_image` once the header is read and checked."""
    width, height = img.size
    mode = img.mode
    scale = jpeg_draft_scale(width, height, min_side) if fmt == "JPEG" else 1
    if scale > 1:
        # Pillow picks its scale as min(width // w, height // h) of the size asked
        # for, so ask for the floor: a rounded-up size (799 / 2 -> 400) would make it
        # decode at full size.
        img.draft("RGB", (width // scale, height // scale))
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)  # as when opening
        _load(img, data)
    stored_size = img.size
    with contextlib.suppress(Exception):  # unreadable EXIF: keep the pixels as stored
        ImageOps.exif_transpose(img, in_place=True)
    if img.size != stored_size:  # rotated by a quarter turn
        width, height = height, width
    rgb = _to_rgb(img)
    if min_side is not None and min(rgb.size) // min_side >= 2:
        # A box reduction is cheap and bounds memory; a second bicubic resample here
        # would cost more than the decode on photos of a few hundred pixels.
        rgb = rgb.reduce(min(rgb.size) // min_side)
    return rgb, ImageInfo(format=fmt, width=width, height=height, mode=mode)


def check_image(data: bytes, limits: ImageLimits) -> ImageInfo:
    """Prove an image usable, as the API does before it stores an upload.

    The same checks and errors as :func:`decode_image`, and the same answer. A JPEG
    (nearly every photo) is proven whole without decoding its pixels
    (:func:`shared.media.jpeg_check.check_jpeg`): a decode would cost about as much as
    the worker's own. Other formats are decoded, at a small size where they can be.

    Args:
        data: The encoded image.
        limits: Size limits checked from the header.

    Returns:
        What the header said, the size after EXIF orientation.

    Raises:
        MediaError: As :func:`decode_image`.
    """
    img, fmt = _open_checked(data, limits)
    if fmt != "JPEG":
        return _decode_opened(img, fmt, data, CHECK_SIDE)[1]
    check_jpeg(data)
    width, height = img.size
    with contextlib.suppress(Exception):  # unreadable EXIF: as decode_image keeps it
        if img.getexif().get(ExifTags.Base.Orientation) in _QUARTER_TURNS:
            width, height = height, width
    return ImageInfo(format=fmt, width=width, height=height, mode=img.mode)


def _open_checked(data: bytes, limits: ImageLimits) -> tuple[Image.Image, str]:
    """The opened image (header only) and its format, once the limits allow it."""
    if not data:
        raise MediaError("empty", "The image is empty (0 bytes).")
    if len(data) > limits.max_bytes:
        raise MediaError("too_large", f"The image is {len(data)} bytes; the limit is "
                                      f"{limits.max_bytes}.")
    with warnings.catch_warnings():
        # Pillow warns past its own pixel limit; ours is checked below, but a bomb
        # Pillow notices first must fail, not just print.
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        img = _open(data)
    fmt = _ALIASES.get(img.format or "", img.format or "")
    if fmt not in ALLOWED_FORMATS:
        raise MediaError("unsupported_format", f"{fmt or 'This'} images are not "
                         f"accepted; use one of {', '.join(sorted(ALLOWED_FORMATS))}.")
    _check_dimensions(*img.size, limits)
    return img, fmt


def jpeg_draft_scale(width: int, height: int, min_side: int | None) -> int:
    """The largest JPEG decoding reduction (1, 2, 4 or 8) that keeps the shorter side at
    least ``min_side`` (1 when ``min_side`` is None)."""
    if min_side is None:
        return 1
    return next(s for s in _DRAFT_SCALES if min(width, height) >= s * min_side or s == 1)


def _open(data: bytes) -> Image.Image:
    """Identify the image and read its header (no pixels)."""
    try:
        return Image.open(io.BytesIO(data), formats=_OPEN_FORMATS)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise MediaError("decompression_bomb", str(exc)) from None
    except UnidentifiedImageError as exc:
        if data.startswith(_SIGNATURES):
            raise _decode_error(exc, data) from None
        raise MediaError("unsupported_format", "The data is not an image in an accepted "
                         f"format ({', '.join(sorted(ALLOWED_FORMATS))}).") from None
    except Exception as exc:
        raise _decode_error(exc, data) from None


def _check_dimensions(width: int, height: int, limits: ImageLimits) -> None:
    if width * height > limits.max_pixels:
        raise MediaError("decompression_bomb", f"The image is {width}x{height} pixels; "
                         f"the limit is {limits.max_pixels} pixels.")
    if max(width, height) > limits.max_side:
        raise MediaError("too_large_dimensions", f"The image is {width}x{height}; neither "
                         f"side may exceed {limits.max_side}.")


def _load(img: Image.Image, data: bytes) -> None:
    """Decode all pixels (of the first frame)."""
    try:
        img.load()
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise MediaError("decompression_bomb", str(exc)) from None
    except Exception as exc:
        raise _decode_error(exc, data) from None


def _decode_error(exc: Exception, data: bytes) -> MediaError:
    if isinstance(exc, EOFError) or "truncated" in str(exc).lower() or _ends_early(data):
        return MediaError("truncated", "The image data is truncated.")
    reason = str(exc) or type(exc).__name__
    return MediaError("corrupt", f"The image cannot be decoded: {reason}")


def _ends_early(data: bytes) -> bool:
    """Whether the header points past the end: WebP's RIFF size or TIFF's first IFD
    (which Pillow writes after the pixels), where Pillow does not say "truncated"."""
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return int.from_bytes(data[4:8], "little") + 8 > len(data)
    if data[:4] in (b"II*\x00", b"MM\x00*"):
        return int.from_bytes(data[4:8], "little" if data[:2] == b"II" else "big") >= len(data)
    return False


def _to_rgb(img: Image.Image) -> Image.Image:
    """8-bit RGB, transparency composited onto white."""
    try:
        if img.mode in ("I", "F") or img.mode.startswith("I;16"):
            img = _high_depth_to_l(img)
        if "A" in img.getbands() or "a" in img.getbands() or "transparency" in img.info:
            rgba = img.convert("RGBA")
            rgb = Image.new("RGB", rgba.size, _WHITE)
            rgb.paste(rgba, mask=rgba.getchannel("A"))
            return rgb
        return img if img.mode == "RGB" else img.convert("RGB")
    except (ValueError, TypeError, OSError) as exc:
        raise MediaError("unsupported_format", f"Images of mode {img.mode} cannot be "
                         f"converted to RGB: {exc}") from None


def _high_depth_to_l(img: Image.Image) -> Image.Image:
    """Scale a 16-bit, 32-bit or float grey image to 8 bits by its depth or range."""
    arr = np.asarray(img).astype(np.float64)
    lo, hi = (float(arr.min()), float(arr.max())) if arr.size else (0.0, 0.0)
    if img.mode.startswith("I;16") or (img.mode == "I" and lo >= 0 and hi <= 65535):
        lo, hi = 0.0, 65535.0
    elif img.mode == "F" and lo >= 0 and hi <= 1:
        lo, hi = 0.0, 1.0
    scaled = (arr - lo) * (255.0 / (hi - lo)) if hi > lo else np.zeros_like(arr)
    return Image.fromarray(np.clip(np.rint(scaled), 0, 255).astype(np.uint8), "L")
