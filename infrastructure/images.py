"""Validation of untrusted uploaded images (search queries, product photos).

An upload is accepted only if Pillow identifies it as JPEG, PNG or WebP from its bytes (names
and declared content types are never trusted) and fully decodes its first frame. Limits are
checked before any pixel is decoded: the byte size first, then the declared dimensions, so a
decompression bomb (a tiny file declaring a huge canvas) is refused from its header alone.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass

from PIL import Image, UnidentifiedImageError

_ACCEPTED: dict[str, tuple[str, str]] = {
    # Pillow format -> (our name, media type)
    "JPEG": ("jpeg", "image/jpeg"),
    "PNG": ("png", "image/png"),
    "WEBP": ("webp", "image/webp"),
}


class ImageRejectedError(ValueError):
    """An upload is not an acceptable image.

    ``too_large`` tells a byte-size or pixel-count refusal (HTTP 413) from a wrong format or
    a corrupt file (HTTP 422).
    """

    def __init__(self, reason: str, too_large: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.too_large = too_large


@dataclass(frozen=True)
class ImageInfo:
    """What validation learnt about an accepted image."""

    format: str  # "jpeg" | "png" | "webp"
    width: int
    height: int
    media_type: str  # "image/jpeg" | "image/png" | "image/webp"


def validate_image(data: bytes, *, max_bytes: int, max_pixels: int) -> ImageInfo:
    """Accept ``data`` as a JPEG, PNG or WebP image within the limits, or raise.

    Raises ImageRejectedError with ``too_large=True`` when ``data`` is longer than
    ``max_bytes`` or its canvas has more than ``max_pixels`` pixels (including images Pillow
    itself flags as decompression bombs), and with ``too_large=False`` when it is empty,
    of another format, truncated or corrupt.
    """
    if max_bytes <= 0 or max_pixels <= 0:
        raise ValueError("max_bytes and max_pixels must be positive")
    size = len(data)
    if size > max_bytes:
        raise ImageRejectedError(
            f"image is {size} bytes, more than the limit of {max_bytes}", too_large=True
        )
    if size == 0:
        raise ImageRejectedError("image is empty")

    # 1. Identify from the header and check the declared canvas before decoding anything.
    with _open(data) as image:
        pillow_format = image.format or ""
        width, height = image.size
        if pillow_format not in _ACCEPTED:  # pragma: no cover - `formats=` already restricts
            raise ImageRejectedError(f"unsupported image format {pillow_format or 'unknown'}")
        if width <= 0 or height <= 0:
            raise ImageRejectedError("image has no pixels")
        if width * height > max_pixels:
            raise ImageRejectedError(
                f"image is {width}x{height} pixels, more than the limit of {max_pixels}",
                too_large=True,
            )
        # 2. Structural check (chunk CRCs for PNG); the image object is unusable afterwards.
        _guard(image.verify)

    # 3. Decode the first frame completely: catches truncated and corrupt pixel data.
    with _open(data) as image:
        _guard(image.load)

    name, media_type = _ACCEPTED[pillow_format]
    return ImageInfo(format=name, width=width, height=height, media_type=media_type)


def _open(data: bytes) -> Image.Image:
    try:
        return Image.open(io.BytesIO(data), formats=list(_ACCEPTED))
    except UnidentifiedImageError:
        raise ImageRejectedError("not a JPEG, PNG or WebP image") from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        # Raised before our own pixel check when the canvas is absurd (> Pillow's limit);
        # the warning arrives as an exception only under a "warnings as errors" filter.
        raise ImageRejectedError(
            "image declares too many pixels (decompression bomb)", too_large=True
        ) from None
    except Exception as error:  # untrusted bytes: any parser failure means corrupt
        raise ImageRejectedError(f"corrupt image header: {error}") from None


def _guard(step: Callable[[], object]) -> None:
    try:
        step()
    except ImageRejectedError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ImageRejectedError(
            "image declares too many pixels (decompression bomb)", too_large=True
        ) from None
    except Exception as error:  # truncated data, bad CRC, decoder errors of every plugin
        raise ImageRejectedError(f"corrupt or truncated image: {error}") from None


__all__ = ["ImageInfo", "ImageRejectedError", "validate_image"]
