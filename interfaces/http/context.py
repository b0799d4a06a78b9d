"""Per-request plumbing: correlation ids, running the sync write side off the event loop,
and Idempotency-Key replay."""

from __future__ import annotations

import functools
import hashlib
import re
import uuid
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import anyio.to_thread
import asyncpg
import msgspec
import structlog
from litestar import Request, Response
from litestar.datastructures import MutableScopeHeaders
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from application.errors import IdempotencyKeyReusedError
from domain.shared.metadata import EventMetadata, bound_metadata, new_correlation_id
from infrastructure.idempotency import IdempotencyStore, StoredResponse
from interfaces.http.auth import Principal
from projections.runner import projection_position, wait_for_position

CORRELATION_HEADER = "x-correlation-id"
POSITION_HEADER = "X-Modiste-Position"
_VALID_CORRELATION = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")
_VALID_IDEMPOTENCY_KEY = re.compile(r"^[\x21-\x7e]{1,255}$")

T = TypeVar("T")


def correlation_middleware(app: ASGIApp) -> ASGIApp:
    """Honour (or mint) X-Correlation-ID, bind it for logs, echo it on the response."""

    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        if str(scope["type"]) != "http":
            await app(scope, receive, send)
            return
        incoming = dict(scope["headers"]).get(CORRELATION_HEADER.encode(), b"").decode("latin-1")
        correlation_id = incoming if _VALID_CORRELATION.match(incoming) else new_correlation_id()
        request_id = uuid.uuid4().hex
        state = scope.setdefault("state", {})
        state["correlation_id"] = correlation_id
        state["request_id"] = request_id

        with structlog.contextvars.bound_contextvars(
            correlation_id=correlation_id, request_id=request_id
        ):
            await app(scope, receive, send)

    return middleware


async def echo_correlation_id(message: Message, scope: Scope) -> None:
    """before_send hook: every response, errors included, carries X-Correlation-ID."""
    if message["type"] == "http.response.start":
        correlation_id = scope.get("state", {}).get("correlation_id")
        if correlation_id:
            MutableScopeHeaders.from_message(message)["X-Correlation-ID"] = correlation_id


def principal_of(request: Request[Any, Any, Any]) -> Principal:
    user = request.user
    assert isinstance(user, Principal)
    return user


def request_metadata(request: Request[Any, Any, Any]) -> EventMetadata:
    """Event metadata for a command this request issues."""
    state = request.scope.get("state", {})
    correlation_id = state.get("correlation_id") or new_correlation_id()
    return EventMetadata(
        correlation_id=correlation_id,
        causation_id=f"http:{state.get('request_id', correlation_id)}",
        actor=principal_of(request).actor,
    )


async def in_thread(request: Request[Any, Any, Any], fn: Callable[..., T], *args: Any) -> T:
    """Run a sync use case in a worker thread with the request's event metadata bound."""
    with bound_metadata(request_metadata(request)):
        return await anyio.to_thread.run_sync(functools.partial(fn, *args))


async def read_in_thread(fn: Callable[..., T], *args: Any) -> T:
    """Run a sync query in a worker thread."""
    return await anyio.to_thread.run_sync(functools.partial(fn, *args))


def json_response(
    body: msgspec.Struct, status: int = 200, headers: dict[str, str] | None = None
) -> Response[bytes]:
    return Response(
        msgspec.json.encode(body),
        status_code=status,
        media_type="application/json",
        headers=headers,
    )


async def idempotent(
    request: Request[Any, Any, Any],
    key: str | None,
    store: IdempotencyStore,
    produce: Callable[[], Awaitable[Response[bytes]]],
) -> Response[bytes]:
    """Replay the first response for a repeated Idempotency-Key; refuse a reused key."""
    if key is None:
        return await produce()
    if not _VALID_IDEMPOTENCY_KEY.match(key):
        raise IdempotencyKeyReusedError("Idempotency-Key must be 1-255 visible ASCII characters")
    principal = principal_of(request).actor
    digest = hashlib.sha256()
    digest.update(f"{request.method} {request.url.path}\n".encode())
    digest.update(await request.body())
    fingerprint = digest.hexdigest()
    stored = await store.get(principal, key)
    if stored is None:
        response = await produce()
        assert isinstance(response.content, bytes)
        stored = await store.remember(
            principal,
            key,
            StoredResponse(fingerprint, response.status_code or 200, response.content),
        )
        if stored.body == response.content:
            return response
    if stored.fingerprint != fingerprint:
        raise IdempotencyKeyReusedError(
            "this Idempotency-Key was used for a different request; use a new key"
        )
    return Response(
        stored.body,
        status_code=stored.status,
        media_type="application/json",
        headers={"Idempotent-Replayed": "true"},
    )


class StaleReadModelError(Exception):
    """The read model has not reached the position the client asked for, within the wait."""

    def __init__(self, read_model: str, wanted: int, reached: int) -> None:
        super().__init__(
            f"read model {read_model!r} is at position {reached}, not yet {wanted}; retry shortly"
        )
        self.read_model = read_model


async def caught_up(
    pool: asyncpg.Pool, read_model: str, min_position: int | None, wait_seconds: float
) -> int:
    """Wait (bounded) until ``read_model`` has applied ``min_position``; its position after.

    Raises StaleReadModelError (503 with Retry-After) when the wait runs out.
    """
    if (
        min_position is not None
        and min_position > 0
        and not await wait_for_position(pool, read_model, min_position, wait_seconds)
    ):
        raise StaleReadModelError(
            read_model, min_position, await projection_position(pool, read_model)
        )
    return await projection_position(pool, read_model)
