"""Domain errors. Each names the rule that was broken; the API maps them to 4xx problems."""

from __future__ import annotations


class DomainError(Exception):
    """A command was refused because it would break a business rule."""


class InvalidMoneyError(DomainError, ValueError):
    """An amount or currency is not acceptable money."""


class CurrencyMismatchError(DomainError, ValueError):
    """Two amounts in different currencies were combined."""


class ValidationError(DomainError, ValueError):
    """A command's argument is outside what the domain accepts."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class InvariantViolationError(DomainError):
    """The aggregate's current state does not allow the command (e.g. paying a cancelled order)."""


class InsufficientStockError(InvariantViolationError):
    """Stock would become negative."""
