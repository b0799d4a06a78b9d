"""Images and small waits shared by the studio's end-to-end tests."""

from __future__ import annotations

import asyncio
import io
import time
from collections.abc import Awaitable, Callable
from typing import Any

import numpy as np
from PIL import Image

from tests.unit.test_image_validation import bomb_png

__all__ = ["bomb_png", "eventually", "noise_png", "png", "solid_png", "stripes_png"]


def png(pixels: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels.astype(np.uint8), "RGB").save(buffer, format="PNG")
    return buffer.getvalue()


def noise_png(seed: int, size: tuple[int, int] = (64, 64)) -> bytes:
    rng = np.random.default_rng(seed)
    return png(rng.integers(0, 256, (size[1], size[0], 3)))


def solid_png(colour: tuple[int, int, int], size: tuple[int, int] = (64, 64)) -> bytes:
    return png(np.full((size[1], size[0], 3), colour))


def stripes_png(period: int, size: tuple[int, int] = (64, 64)) -> bytes:
    x = np.arange(size[0])
    row = np.where((x // period) % 2 == 0, 240, 20)
    return png(np.repeat(np.tile(row, (size[1], 1))[:, :, None], 3, axis=2))


async def eventually(
    probe: Callable[[], Awaitable[Any]], *, timeout: float = 60.0, interval: float = 0.1
) -> Any:
    """Poll ``probe`` until it returns something truthy; fail with its last value."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = await probe()
        if last:
            return last
        await asyncio.sleep(interval)
    raise AssertionError(f"gave up waiting after {timeout}s; last value: {last!r}")
