"""Ports: the application's view of everything outside it.

Adapters in ``infrastructure/`` implement these Protocols; use cases and agents depend only
on them, so tests can swap a real adapter for a fake without touching the core.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

Vector = npt.NDArray[np.float32]


class Clock(Protocol):
    """Source of the current time (UTC)."""

    def now(self) -> datetime: ...


@runtime_checkable
class ImageEmbedder(Protocol):
    """Turns images (encoded bytes: JPEG, PNG, WebP) into L2-normalised vectors."""

    model_id: str
    dimensions: int

    def embed_images(self, images: Sequence[bytes]) -> npt.NDArray[np.float32]:
        """Return an array of shape (len(images), dimensions), each row of unit length."""
        ...


@runtime_checkable
class TextEmbedder(Protocol):
    """Turns texts into L2-normalised vectors in the same space as the image embedder."""

    model_id: str
    dimensions: int

    def embed_texts(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        """Return an array of shape (len(texts), dimensions), each row of unit length."""
        ...


@dataclass(frozen=True)
class GenerationRequest:
    """What a diffusion model is asked to draw; together with the model hash it fixes the image."""

    prompt: str
    negative_prompt: str
    seed: int
    steps: int
    guidance: float
    width: int
    height: int


@dataclass(frozen=True)
class GeneratedImage:
    """A generated image as PNG bytes plus the provenance needed to reproduce it."""

    png: bytes
    model_id: str
    model_hash: str
    seed: int
    steps: int
    guidance: float
    duration_seconds: float


@runtime_checkable
class ImageGenerator(Protocol):
    """Text-to-image generation, reproducible from request + model hash on one provider."""

    model_id: str
    model_hash: str

    def generate(self, request: GenerationRequest) -> GeneratedImage: ...


@dataclass(frozen=True)
class VectorMatch:
    """One nearest-neighbour hit: the item's key and its cosine similarity to the query."""

    key: str
    similarity: float


class VectorIndex(Protocol):
    """Approximate nearest-neighbour index over unit vectors (cosine similarity)."""

    def upsert(self, key: str, vector: Vector) -> None: ...

    def remove(self, key: str) -> None: ...

    def search(self, query: Vector, limit: int) -> list[VectorMatch]: ...

    def __len__(self) -> int: ...


@dataclass(frozen=True)
class BlobRef:
    """A stored blob: content address (sha256 hex), media type and size in bytes."""

    sha256: str
    media_type: str
    size: int


class BlobStore(Protocol):
    """Content-addressed storage for images and other binary artefacts."""

    def put(self, data: bytes, media_type: str) -> BlobRef: ...

    def get(self, sha256: str) -> bytes: ...

    def exists(self, sha256: str) -> bool: ...
