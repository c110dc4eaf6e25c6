"""Image decoding: real encoded files in every accepted format, modes, orientation, limits."""

from __future__ import annotations

import io
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from PIL import Image, ImageFile, JpegImagePlugin
from skimage import data as skdata

from shared.media.errors import MediaError
from shared.media.images import (
    ALLOWED_FORMATS,
    ImageLimits,
    check_image,
    decode_image,
    jpeg_draft_scale,
)

LIMITS = ImageLimits()


def check_only(data: bytes, limits: ImageLimits, **_) -> None:
    """The API's check (it has no decode size to take)."""
    check_image(data, limits)


# The API's check must refuse what the worker's decode would, with the same reasons.
BOTH = pytest.mark.parametrize("check", [decode_image, check_only], ids=["decode", "check"])


def encode(img: Image.Image, fmt: str, **kwargs) -> bytes:
    buf = io.BytesIO()
    img.save(buf, fmt, **kwargs)
    return buf.getvalue()


def error_code(data: bytes, limits: ImageLimits = LIMITS, check=decode_image, **kwargs) -> str:
    with pytest.raises(MediaError) as caught:
        check(data, limits, **kwargs)
    return caught.value.code


@pytest.fixture(scope="module")
def chelsea() -> np.ndarray:
    return skdata.chelsea()  # 300x451 RGB photo


@pytest.mark.parametrize("fmt,tolerance", [
    ("JPEG", 6), ("PNG", 0), ("WEBP", 8), ("GIF", 20), ("BMP", 0), ("TIFF", 0),
])
def test_accepted_formats_decode_to_rgb_of_the_right_size(chelsea, fmt, tolerance):
    img, info = decode_image(encode(Image.fromarray(chelsea), fmt), LIMITS)
    assert img.mode == "RGB" and img.size == (451, 300)
    assert (info.format, info.width, info.height) == (fmt, 451, 300)
    assert np.abs(np.asarray(img, dtype=int) - chelsea).mean() <= tolerance


def test_transparent_rgba_and_la_pixels_become_white():
    rgba = np.zeros((10, 20, 4), np.uint8)
    rgba[:, :10] = (255, 0, 0, 255)      # opaque red left, fully transparent black right
    img, info = decode_image(encode(Image.fromarray(rgba, "RGBA"), "PNG"), LIMITS)
    arr = np.asarray(img)
    assert info.mode == "RGBA"
    assert (arr[:, :10] == (255, 0, 0)).all() and (arr[:, 10:] == 255).all()
    la = Image.fromarray(rgba[..., [1, 3]], "LA")  # grey 0, same alpha
    arr = np.asarray(decode_image(encode(la, "PNG"), LIMITS)[0])
    assert (arr[:, :10] == 0).all() and (arr[:, 10:] == 255).all()


def test_palette_transparency_becomes_white_and_palette_colours_are_kept():
    pal = Image.new("P", (8, 8), 1)
    pal.putpalette([0, 0, 0, 0, 200, 0] + [0] * 762)
    pal.paste(0, (0, 0, 4, 8))
    for fmt in ("PNG", "GIF"):
        arr = np.asarray(decode_image(encode(pal, fmt, transparency=0), LIMITS)[0])
        assert (arr[:, :4] == 255).all(), fmt
        assert (arr[:, 4:] == (0, 200, 0)).all(), fmt
    arr = np.asarray(decode_image(encode(pal, "PNG"), LIMITS)[0])  # no transparency
    assert (arr[:, :4] == 0).all() and (arr[:, 4:] == (0, 200, 0)).all()


def test_cmyk_jpeg_comes_back_in_its_rgb_colours(chelsea):
    data = encode(Image.fromarray(chelsea).convert("CMYK"), "JPEG", quality=95)
    img, info = decode_image(data, LIMITS)
    assert info.mode == "CMYK" and img.mode == "RGB"
    assert np.abs(np.asarray(img, dtype=int) - chelsea).mean() < 4


def test_16_bit_grey_is_scaled_by_depth_not_clipped():
    ramp = np.tile(np.linspace(0, 65535, 512).astype(np.uint16), (4, 1))
    img, info = decode_image(encode(Image.fromarray(ramp), "PNG"), LIMITS)
    arr = np.asarray(img)
    assert info.mode == "I;16"
    assert arr.min() == 0 and arr.max() == 255 and 120 < arr.mean() < 135
    assert (np.diff(arr[0, :, 0].astype(int)) >= 0).all()      # still a ramp
    dim = decode_image(encode(Image.fromarray(ramp // 256), "TIFF"), LIMITS)[0]
    assert np.asarray(dim).max() == 1                          # 255/65535 of full scale


def test_float_and_one_bit_images_become_rgb():
    ramp = np.tile(np.linspace(0, 1, 256, dtype=np.float32), (4, 1))
    arr = np.asarray(decode_image(encode(Image.fromarray(ramp, "F"), "TIFF"), LIMITS)[0])
    assert arr.min() == 0 and arr.max() == 255 and 120 < arr.mean() < 135
    bits = Image.new("1", (16, 16), 0)
    bits.paste(1, (0, 0, 8, 16))
    arr = np.asarray(decode_image(encode(bits, "PNG"), LIMITS)[0])
    assert (arr[:, :8] == 255).all() and (arr[:, 8:] == 0).all()


def test_exif_orientation_is_applied():
    arr = np.zeros((200, 300, 3), np.uint8)
    arr[:100, :] = (255, 0, 0)      # stored: red top half, blue bottom half
    arr[100:, :] = (0, 0, 255)
    exif = Image.Exif()
    exif[0x0112] = 6                # display = stored rotated 90 degrees clockwise
    data = encode(Image.fromarray(arr), "JPEG", quality=95, exif=exif)
    img, info = decode_image(data, LIMITS)
    assert img.size == (200, 300) and (info.width, info.height) == (200, 300)
    assert check_image(data, LIMITS) == info
    right, left = np.asarray(img)[150, 180], np.asarray(img)[150, 20]
    assert right[0] > 200 and right[2] < 50      # top went to the right
    assert left[2] > 200 and left[0] < 50


def test_min_side_decodes_a_big_jpeg_small_but_never_below_it():
    x = (np.arange(4000) % 256).astype(np.uint8)
    y = (np.arange(3000) % 256).astype(np.uint8)[:, None]
    arr = np.empty((3000, 4000, 3), np.uint8)
    arr[..., 0], arr[..., 1], arr[..., 2] = x, y, x ^ y
    data = encode(Image.fromarray(arr), "JPEG", quality=80)
    img, info = decode_image(data, LIMITS, min_side=512)
    assert (info.width, info.height) == (4000, 3000)
    # Decoded at 1/4 scale (JPEG draft): the shorter side lands in [512, 1024).
    assert img.size == (1000, 750) and img.mode == "RGB"
    png = encode(Image.fromarray(arr), "PNG")
    # No draft for PNG: an integer box reduction (3000 // 512 = 5) after decoding.
    assert decode_image(png, LIMITS, min_side=512)[0].size == (800, 600)
    small = decode_image(encode(Image.fromarray(arr[:300, :400]), "PNG"), LIMITS, min_side=512)
    assert small[0].size == (400, 300)                        # never enlarged
    with pytest.raises(MediaError) as caught:                  # draft still reads it all
        decode_image(data[: len(data) // 2], LIMITS, min_side=512)
    assert caught.value.code == "truncated"


def test_a_jpeg_of_odd_size_is_still_decoded_at_a_reduced_scale():
    assert jpeg_draft_scale(799, 512, 256) == 2
    assert jpeg_draft_scale(4000, 3000, 512) == 4
    assert jpeg_draft_scale(600, 511, 256) == 1     # half would be under 256
    assert jpeg_draft_scale(2048, 2048, 256) == 8
    assert jpeg_draft_scale(2048, 2048, None) == 1
    rng = np.random.default_rng(0)
    data = encode(Image.fromarray(rng.integers(0, 255, (512, 799, 3), np.uint8)), "JPEG")
    img, info = decode_image(data, LIMITS, min_side=256)
    assert (info.width, info.height) == (799, 512)
    # libjpeg's half-scale output (sides rounded up), not a full decode reduced after:
    # asking Pillow for the rounded-up size (400 x 256) made it decode at full size.
    assert img.size == (400, 256)
    assert isinstance(img, JpegImagePlugin.JpegImageFile)
    assert min(decode_image(data, LIMITS, min_side=64)[0].size) == 64   # 1/8


def test_animated_gif_gives_its_first_frame():
    frames = [Image.new("RGB", (20, 20), c) for c in ((255, 0, 0), (0, 0, 255))]
    buf = io.BytesIO()
    frames[0].save(buf, "GIF", save_all=True, append_images=frames[1:], duration=100)
    arr = np.asarray(decode_image(buf.getvalue(), LIMITS)[0])
    assert (arr == (255, 0, 0)).all()


@BOTH
def test_empty_and_too_many_bytes_are_refused(chelsea, check):
    assert error_code(b"", check=check) == "empty"
    data = encode(Image.fromarray(chelsea), "PNG")
    assert error_code(data, ImageLimits(max_bytes=len(data) - 1), check) == "too_large"


@pytest.mark.filterwarnings("ignore:Corrupt EXIF data:UserWarning")  # cut TIFF metadata
@pytest.mark.parametrize("fmt,options", [
    ("JPEG", {}), ("JPEG", {"progressive": True}), ("PNG", {}), ("GIF", {}), ("WEBP", {}),
    ("TIFF", {}), ("TIFF", {"compression": "tiff_lzw"}),
])
@BOTH
def test_truncated_data_is_detected(chelsea, fmt, options, check):
    data = encode(Image.fromarray(chelsea), fmt, **options)
    assert error_code(data[: len(data) // 2], check=check) == "truncated"


@BOTH
def test_damaged_data_in_an_accepted_format_is_corrupt_not_unsupported(chelsea, check):
    assert error_code(b"\xff\xd8\xff" + b"\x00" * 64, check=check) == "corrupt"
    data = bytearray(encode(Image.fromarray(chelsea), "PNG"))
    data[200:220] = b"\x00" * 20                 # inside the compressed pixels
    assert error_code(bytes(data), check=check) == "corrupt"


@pytest.mark.parametrize("data", [
    b"%PDF-1.7\n1 0 obj\n<< /Type /Catalog >>\nendobj\n",
    b"<!DOCTYPE html><html><body><img src=x></body></html>",
    b"just some plain text, not an image at all\n" * 5,
    encode(Image.new("RGB", (32, 32), "red"), "ICO"),
    encode(Image.new("RGB", (32, 32), "red"), "PPM"),
], ids=["pdf", "html", "text", "ico", "ppm"])
@BOTH
def test_non_images_and_formats_outside_the_allowlist_are_unsupported(data, check):
    assert "ICO" not in ALLOWED_FORMATS
    assert error_code(data, check=check) == "unsupported_format"


@BOTH
def test_too_large_dimensions(check):
    assert error_code(encode(Image.new("L", (13000, 10)), "PNG"),
                      check=check) == "too_large_dimensions"
    assert error_code(encode(Image.new("L", (13000, 10)), "JPEG"),
                      check=check) == "too_large_dimensions"


@BOTH
def test_a_decompression_bomb_is_refused_from_its_header(monkeypatch, check):
    data = encode(Image.new("1", (15000, 15000)), "PNG")
    assert len(data) < 100_000

    def no_decoding(self):
        raise AssertionError("pixels decoded")

    # Refused from the header: not one pixel is decoded.
    with monkeypatch.context() as patched:
        patched.setattr(ImageFile.ImageFile, "load", no_decoding)
        assert error_code(data, check=check) == "decompression_bomb"
    # Below Pillow's own limit, ours still applies.
    assert error_code(encode(Image.new("1", (8000, 6000)), "PNG"),
                      ImageLimits(max_pixels=10_000_000), check) == "decompression_bomb"


def test_pillow_globals_are_left_alone_and_threads_agree(chelsea):
    before = (Image.MAX_IMAGE_PIXELS, ImageFile.LOAD_TRUNCATED_IMAGES)
    data = encode(Image.fromarray(chelsea), "JPEG")
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda _: np.asarray(decode_image(data, LIMITS)[0]), range(8)))
    assert all((r == results[0]).all() for r in results)
    assert (Image.MAX_IMAGE_PIXELS, ImageFile.LOAD_TRUNCATED_IMAGES) == before
