"""Problem documents for the studio's own errors (registered on its controllers)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from litestar import Request, Response
from litestar.exceptions import ValidationException

from application.designs import ModelsUnavailableError
from infrastructure.blobs.file_store import BlobNotFoundError
from infrastructure.images import ImageRejectedError
from interfaces.http.errors import problem


def _image_rejected(request: Request[Any, Any, Any], exc: ImageRejectedError) -> Response[Any]:
    if exc.too_large:
        return problem(
            413, "image-too-large", "Image too large", exc.reason, instance=request.url.path
        )
    return problem(
        422,
        "invalid-image",
        "Not an acceptable image",
        f"{exc.reason}; send a JPEG, PNG or WebP image",
        instance=request.url.path,
        invalid_params=[{"name": "image", "reason": exc.reason, "in": "body"}],
    )


def _models_unavailable(
    request: Request[Any, Any, Any], exc: ModelsUnavailableError
) -> Response[Any]:
    return problem(
        503,
        "models-unavailable",
        "The ML models are not available",
        str(exc),
        headers={"Retry-After": "30"},
        instance=request.url.path,
    )


def _blob_missing(request: Request[Any, Any, Any], exc: BlobNotFoundError) -> Response[Any]:
    return problem(404, "not-found", "Not found", str(exc), instance=request.url.path)


STUDIO_EXCEPTION_HANDLERS: dict[type[Exception] | int, Callable[..., Response[Any]]] = {
    ImageRejectedError: _image_rejected,
    ModelsUnavailableError: _models_unavailable,
    BlobNotFoundError: _blob_missing,
}


def invalid_field(name: str, reason: str) -> ValidationException:
    """A 400 invalid-input problem naming one request field."""
    return ValidationException(
        detail=f"{name}: {reason}", extra=[{"key": name, "message": reason, "source": "body"}]
    )
