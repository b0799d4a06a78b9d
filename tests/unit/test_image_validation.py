"""validate_image: only whole JPEG, PNG and WebP images within the limits pass."""

from __future__ import annotations

import io
import struct
import warnings
import zlib

import pytest
from PIL import Image

from infrastructure.images import ImageInfo, ImageRejectedError, validate_image

MAX_BYTES = 5 * 1024 * 1024
MAX_PIXELS = 4096 * 4096


def encode(fmt: str, size: tuple[int, int] = (64, 48), mode: str = "RGB") -> bytes:
    image = Image.new(mode, size)
    # Some texture so that encoders produce a non-trivial payload.
    for x in range(0, size[0], 3):
        for y in range(0, size[1], 5):
            image.putpixel((x, y), (x % 256, y % 256, 128) if mode == "RGB" else 255)
    buffer = io.BytesIO()
    image.save(buffer, format=fmt)
    return buffer.getvalue()


def png_chunk(kind: bytes, payload: bytes) -> bytes:
    crc = zlib.crc32(kind + payload) & 0xFFFFFFFF
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", crc)


def bomb_png(width: int = 20_000, height: int = 20_000) -> bytes:
    """A valid 1-bit greyscale PNG of width x height, all black: tiny on disk."""
    row = b"\x00" + b"\x00" * ((width + 7) // 8)  # filter byte + packed bits
    compressor = zlib.compressobj(9)
    chunks = [compressor.compress(row * 1000) for _ in range(height // 1000)]
    chunks.append(compressor.compress(row * (height % 1000)))
    chunks.append(compressor.flush())
    idat = b"".join(chunks)
    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", ihdr)
        + png_chunk(b"IDAT", idat)
        + png_chunk(b"IEND", b"")
    )


def check(data: bytes, **limits: int) -> ImageInfo:
    return validate_image(
        data,
        max_bytes=limits.get("max_bytes", MAX_BYTES),
        max_pixels=limits.get("max_pixels", MAX_PIXELS),
    )


@pytest.mark.parametrize(
    ("fmt", "name", "media_type"),
    [("JPEG", "jpeg", "image/jpeg"), ("PNG", "png", "image/png"), ("WEBP", "webp", "image/webp")],
)
def test_accepted_formats(fmt: str, name: str, media_type: str) -> None:
    info = check(encode(fmt, (64, 48)))
    assert info == ImageInfo(format=name, width=64, height=48, media_type=media_type)


def test_greyscale_and_alpha_pngs_are_fine() -> None:
    assert check(encode("PNG", (10, 10), mode="L")).format == "png"
    assert check(encode("PNG", (10, 10), mode="RGBA")).format == "png"


@pytest.mark.parametrize("fmt", ["GIF", "BMP", "TIFF", "ICO", "PPM"])
def test_other_image_formats_are_refused(fmt: str) -> None:
    with pytest.raises(ImageRejectedError) as caught:
        check(encode(fmt, (16, 16)))
    assert not caught.value.too_large


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"hello, I am a JPEG",
        b'<svg xmlns="http://www.w3.org/2000/svg"/>',
        b"\x89PNG\r\n\x1a\n",  # a signature and nothing else
        b"\xff\xd8\xff\xe0" + b"\x00" * 20,  # a JPEG start and garbage
    ],
    ids=["empty", "text", "svg", "png-signature-only", "jpeg-garbage"],
)
def test_non_images_are_refused(data: bytes) -> None:
    with pytest.raises(ImageRejectedError) as caught:
        check(data)
    assert not caught.value.too_large
    assert caught.value.reason


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP"])
def test_truncated_images_are_refused(fmt: str) -> None:
    data = encode(fmt, (256, 256))
    with pytest.raises(ImageRejectedError) as caught:
        check(data[: len(data) // 2])
    assert not caught.value.too_large


def test_a_png_with_a_bad_checksum_is_refused() -> None:
    data = bytearray(encode("PNG", (32, 32)))
    idat = data.index(b"IDAT")
    data[idat + 8] ^= 0xFF  # flip a byte of the compressed pixels, keep the stored CRC
    with pytest.raises(ImageRejectedError) as caught:
        check(bytes(data))
    assert not caught.value.too_large


def test_too_many_bytes_is_too_large() -> None:
    data = encode("PNG", (64, 64))
    with pytest.raises(ImageRejectedError) as caught:
        check(data, max_bytes=len(data) - 1)
    assert caught.value.too_large
    assert check(data, max_bytes=len(data)).width == 64  # the limit is inclusive


def test_too_many_pixels_is_too_large() -> None:
    data = encode("JPEG", (200, 100))
    with pytest.raises(ImageRejectedError) as caught:
        check(data, max_pixels=200 * 100 - 1)
    assert caught.value.too_large
    assert check(data, max_pixels=200 * 100).height == 100


def test_decompression_bomb_is_refused_from_its_header() -> None:
    data = bomb_png()
    assert len(data) < 200_000  # small on disk, 400 megapixels on paper
    with pytest.raises(ImageRejectedError) as caught:
        check(data)
    assert caught.value.too_large


def test_bomb_below_pillows_own_limit_is_refused_by_ours() -> None:
    data = bomb_png(8_000, 8_000)  # 64 Mpx: under Pillow's threshold, over ours
    with pytest.raises(ImageRejectedError) as caught:
        check(data)
    assert caught.value.too_large


def test_bomb_is_refused_when_warnings_are_errors() -> None:
    data = bomb_png(10_000, 10_000)  # between Pillow's warning and error thresholds
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        with pytest.raises(ImageRejectedError) as caught:
            check(data, max_pixels=200_000_000)
    assert caught.value.too_large


def test_limits_must_be_positive() -> None:
    with pytest.raises(ValueError):
        validate_image(b"x", max_bytes=0, max_pixels=1)
