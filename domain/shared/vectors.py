"""Embedding vectors as events store them: little-endian float16 bytes, and cosine maths.

Pure numpy. Events carry vectors as float16 (half the bytes of float32, and the precision the
vector index stores anyway); everything that reads them back computes in float32.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

F16 = np.dtype("<f2")


def to_f16_bytes(vector: npt.ArrayLike) -> bytes:
    """A 1-D finite vector as little-endian float16 bytes."""
    row = np.asarray(vector, dtype=np.float32)
    if row.ndim != 1 or row.size == 0:
        raise ValueError(f"expected a non-empty 1-D vector, got shape {row.shape}")
    if not np.all(np.isfinite(row)):
        raise ValueError("vector components must be finite")
    if np.any(np.abs(row) > np.finfo(np.float16).max):
        raise ValueError("vector components overflow float16; normalise the vector first")
    return row.astype(F16).tobytes()


def from_f16_bytes(data: bytes) -> npt.NDArray[np.float32]:
    """Little-endian float16 bytes back to a float32 vector."""
    if len(data) == 0 or len(data) % F16.itemsize:
        raise ValueError(f"{len(data)} bytes are not a whole number of float16 values")
    return np.frombuffer(data, dtype=F16).astype(np.float32)


def cosine(a: npt.ArrayLike, b: npt.ArrayLike) -> float:
    """Cosine similarity of two vectors of one size, in [-1, 1] (ValueError on a zero vector)."""
    x = np.asarray(a, dtype=np.float64).ravel()
    y = np.asarray(b, dtype=np.float64).ravel()
    if x.shape != y.shape:
        raise ValueError(f"vectors differ in size: {x.size} and {y.size}")
    norms = float(np.linalg.norm(x) * np.linalg.norm(y))
    if norms == 0.0 or not np.isfinite(norms):
        raise ValueError("cosine is undefined for zero or non-finite vectors")
    return float(min(1.0, max(-1.0, float(x @ y) / norms)))
