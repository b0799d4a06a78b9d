"""Every error leaves as an RFC 9457 problem document (application/problem+json)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import structlog
from litestar import MediaType, Request, Response
from litestar.exceptions import HTTPException, ValidationException
from litestar.plugins.problem_details import ProblemDetailsConfig, ProblemDetailsPlugin
from litestar.status_codes import (
    HTTP_404_NOT_FOUND,
    HTTP_409_CONFLICT,
    HTTP_422_UNPROCESSABLE_ENTITY,
    HTTP_500_INTERNAL_SERVER_ERROR,
)

from application.errors import (
    ConcurrencyConflictError,
    IdempotencyKeyReusedError,
    NotFoundError,
    PermissionDeniedError,
)
from domain.shared.errors import (
    CurrencyMismatchError,
    InsufficientStockError,
    InvalidMoneyError,
    InvariantViolationError,
    ValidationError,
)
from interfaces.http.context import StaleReadModelError
from projections.queries import InvalidCursorError

PROBLEM_MEDIA_TYPE = "application/problem+json"
log = structlog.get_logger(__name__)


def problem(
    status: int,
    slug: str,
    title: str,
    detail: str = "",
    *,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> Response[dict[str, Any]]:
    """A problem-details response; ``type`` is a relative URI naming the problem kind."""
    body: dict[str, Any] = {"type": f"/problems/{slug}", "title": title, "status": status}
    if detail:
        body["detail"] = detail
    body.update({k: v for k, v in extra.items() if v is not None})
    return Response(body, status_code=status, media_type=PROBLEM_MEDIA_TYPE, headers=headers)


def _instance(request: Request[Any, Any, Any]) -> str:
    return request.url.path


def _validation_failed(request: Request[Any, Any, Any], exc: ValidationException) -> Response[Any]:
    invalid: list[dict[str, Any]] = []
    if isinstance(exc.extra, list):
        for item in exc.extra:
            if isinstance(item, dict):
                invalid.append(
                    {
                        "name": item.get("key") or item.get("source") or "body",
                        "reason": item.get("message", "invalid"),
                        "in": item.get("source", "body"),
                    }
                )
    detail = exc.detail
    if invalid:
        detail = "; ".join(f"{p['name']}: {p['reason']}" for p in invalid)
    slug = "malformed-body" if "malformed" in exc.detail.lower() else "invalid-input"
    return problem(
        400,
        slug,
        "Malformed request body" if slug == "malformed-body" else "Invalid request",
        detail,
        instance=_instance(request),
        invalid_params=invalid or None,
    )


def _http_exception(request: Request[Any, Any, Any], exc: HTTPException) -> Response[Any]:
    titles = {
        400: ("bad-request", "Bad request"),
        401: ("unauthorized", "Authentication required"),
        403: ("forbidden", "Forbidden"),
        404: ("not-found", "Not found"),
        405: ("method-not-allowed", "Method not allowed"),
        413: ("payload-too-large", "Request body too large"),
        415: ("unsupported-media-type", "Unsupported media type"),
        429: ("rate-limited", "Too many requests"),
    }
    slug, title = titles.get(exc.status_code, ("http-error", "Request failed"))
    if exc.status_code == 400 and any(
        word in exc.detail.lower() for word in ("malformed", "truncated", "decode", "json")
    ):
        slug, title = "malformed-body", "Malformed request body"
    headers = dict(exc.headers or {})
    return problem(
        exc.status_code,
        slug,
        title,
        exc.detail,
        headers=headers or None,
        instance=_instance(request),
    )


def _domain_validation(request: Request[Any, Any, Any], exc: ValidationError) -> Response[Any]:
    invalid = [{"name": exc.field, "reason": str(exc), "in": "body"}] if exc.field else None
    return problem(
        HTTP_422_UNPROCESSABLE_ENTITY,
        "invalid-command",
        "Command refused",
        str(exc),
        instance=_instance(request),
        invalid_params=invalid,
    )


def _simple(status: int, slug: str, title: str) -> Callable[..., Response[Any]]:
    def handler(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
        return problem(status, slug, title, str(exc), instance=_instance(request))

    return handler


def _stale(request: Request[Any, Any, Any], exc: StaleReadModelError) -> Response[Any]:
    return problem(
        503,
        "stale-read-model",
        "Read model not caught up yet",
        str(exc),
        headers={"Retry-After": "1"},
        instance=_instance(request),
    )


def _invalid_cursor(request: Request[Any, Any, Any], exc: InvalidCursorError) -> Response[Any]:
    return problem(
        400,
        "invalid-input",
        "Invalid request",
        str(exc),
        instance=_instance(request),
        invalid_params=[{"name": "cursor", "reason": str(exc), "in": "query"}],
    )


def _unexpected(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    log.exception("unhandled error", path=request.url.path)
    return problem(
        HTTP_500_INTERNAL_SERVER_ERROR,
        "internal-error",
        "Internal server error",
        "the error was logged with this request's correlation id",
        instance=_instance(request),
    )


EXCEPTION_HANDLERS: dict[type[Exception] | int, Callable[..., Response[Any]]] = {
    ValidationException: _validation_failed,
    HTTPException: _http_exception,
    ValidationError: _domain_validation,
    InvalidMoneyError: _simple(HTTP_422_UNPROCESSABLE_ENTITY, "invalid-money", "Invalid money"),
    CurrencyMismatchError: _simple(
        HTTP_422_UNPROCESSABLE_ENTITY, "currency-mismatch", "Currency mismatch"
    ),
    InsufficientStockError: _simple(HTTP_409_CONFLICT, "insufficient-stock", "Not enough stock"),
    InvariantViolationError: _simple(
        HTTP_409_CONFLICT, "state-conflict", "Not allowed in the current state"
    ),
    NotFoundError: _simple(HTTP_404_NOT_FOUND, "not-found", "Not found"),
    ConcurrencyConflictError: _simple(
        HTTP_409_CONFLICT, "concurrency-conflict", "Changed concurrently"
    ),
    IdempotencyKeyReusedError: _simple(
        HTTP_422_UNPROCESSABLE_ENTITY,
        "idempotency-key-reused",
        "Idempotency-Key reused with a different request",
    ),
    PermissionDeniedError: _simple(403, "forbidden", "Forbidden"),
    StaleReadModelError: _stale,
    InvalidCursorError: _invalid_cursor,
    Exception: _unexpected,
}


def problem_details_plugin() -> ProblemDetailsPlugin:
    """Litestar's RFC 9457 plugin, for ProblemDetailsException raised anywhere."""
    return ProblemDetailsPlugin(ProblemDetailsConfig())


__all__ = ["EXCEPTION_HANDLERS", "PROBLEM_MEDIA_TYPE", "MediaType", "problem"]
