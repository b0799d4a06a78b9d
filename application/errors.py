"""Errors raised by use cases (beside the domain's own rule violations)."""

from __future__ import annotations


class ApplicationError(Exception):
    """Base class for use-case errors."""


class NotFoundError(ApplicationError, LookupError):
    """The addressed aggregate does not exist."""

    def __init__(self, kind: str, ident: object) -> None:
        super().__init__(f"{kind} {ident} not found")
        self.kind = kind
        self.ident = ident


class ConcurrencyConflictError(ApplicationError):
    """Someone else changed the aggregate first; re-read and try again."""


class IdempotencyKeyReusedError(ApplicationError):
    """An Idempotency-Key came back with a different request."""


class PermissionDeniedError(ApplicationError):
    """The caller may not act on this aggregate."""
