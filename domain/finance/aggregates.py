"""The finance context: a double-entry Ledger per currency. The books always balance.

Every entry moves integer minor units between accounts; its debits equal its credits, so
the sum of all account balances (debits minus credits) is zero after every entry. Payments
debit ``cash`` and credit ``revenue``; refunds debit ``refunds`` (contra-revenue) and credit
``cash``. So the cash balance is always payments minus refunds.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from domain.shared.aggregate import ModisteAggregate
from domain.shared.errors import InvariantViolationError, ValidationError
from domain.shared.money import Money, validate_currency

CASH = "cash"
REVENUE = "revenue"
REFUNDS = "refunds"
ACCOUNTS = frozenset({CASH, REVENUE, REFUNDS})
SOURCES = frozenset({"payment", "refund"})
MAX_LINES_PER_ENTRY = 20
MAX_LINE_AMOUNT = 10**15
LEDGER_NAMESPACE = uuid.UUID("3a6e0c52-7f0e-4c4e-8f5b-2f1d6b9a4c11")


def ledger_id(currency: str) -> uuid.UUID:
    """The one ledger stream of ``currency`` (deterministic, so every writer finds it)."""
    return uuid.uuid5(LEDGER_NAMESPACE, validate_currency(currency))


def payment_entry_id(payment_id: str) -> str:
    return f"payment:{payment_id}"


def refund_entry_id(refund_id: str) -> str:
    return f"refund:{refund_id}"


@dataclass(frozen=True)
class LedgerLine:
    """One side of an entry: ``debit`` or ``credit`` (the other is zero), in minor units."""

    account: str
    debit: int = 0
    credit: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {"account": self.account, "debit": self.debit, "credit": self.credit}


def _whole(value: object, field: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValidationError("ledger amounts are integers in minor units", field)
    if value < 0 or value > MAX_LINE_AMOUNT:
        raise ValidationError(f"ledger amounts lie in 0..{MAX_LINE_AMOUNT}", field)
    return value


def check_balanced(lines: Iterable[LedgerLine]) -> list[LedgerLine]:
    """Return ``lines`` if they form a valid balanced entry, else raise ValidationError.

    An entry has two or more lines on known accounts; each line is a debit or a credit
    (exactly one positive amount); total debits equal total credits.
    """
    checked = list(lines)
    if len(checked) < 2:
        raise ValidationError("an entry has at least two lines", "lines")
    if len(checked) > MAX_LINES_PER_ENTRY:
        raise ValidationError(f"an entry has at most {MAX_LINES_PER_ENTRY} lines", "lines")
    debits = credits = 0
    for index, line in enumerate(checked):
        field = f"lines[{index}]"
        if line.account not in ACCOUNTS:
            raise ValidationError(f"unknown account {line.account!r}", f"{field}.account")
        debit = _whole(line.debit, f"{field}.debit")
        credit = _whole(line.credit, f"{field}.credit")
        if (debit > 0) == (credit > 0):
            raise ValidationError("a line is either a debit or a credit", field)
        debits += debit
        credits += credit
    if debits != credits:
        raise ValidationError(f"entry does not balance: debits {debits} != credits {credits}")
    return checked


def payment_lines(amount: Money) -> list[LedgerLine]:
    """Money received for an order: debit cash, credit revenue."""
    return [LedgerLine(CASH, debit=amount.amount), LedgerLine(REVENUE, credit=amount.amount)]


def refund_lines(amount: Money) -> list[LedgerLine]:
    """Money given back: debit refunds (contra-revenue), credit cash."""
    return [LedgerLine(REFUNDS, debit=amount.amount), LedgerLine(CASH, credit=amount.amount)]


class Ledger(ModisteAggregate):
    """The general ledger of one currency. Each entry id is posted at most once."""

    class LedgerOpened(ModisteAggregate.Created):
        currency: str

    class LedgerEntryPosted(ModisteAggregate.Event):
        entry_id: str
        source: str
        order_id: str | None
        currency: str
        lines: list[dict[str, Any]]
        booked_at: datetime
        """When the source event happened: revenue is booked on that day (UTC)."""

        def apply(self, aggregate: Any) -> None:
            aggregate.posted[self.entry_id] = self.originator_version
            for line in self.lines:
                account = line["account"]
                aggregate.balances[account] = (
                    aggregate.balances.get(account, 0) + line["debit"] - line["credit"]
                )

    def __init__(self, currency: str) -> None:
        self.currency = currency
        self.balances: dict[str, int] = {}
        """Account -> debits minus credits, in minor units."""
        self.posted: dict[str, int] = {}
        """Entry id -> the ledger version that posted it."""

    @classmethod
    def open(cls, currency: str) -> Ledger:
        ledger: Ledger = cls._create(
            cls.LedgerOpened, id=ledger_id(currency), currency=validate_currency(currency)
        )
        return ledger

    # -- commands ------------------------------------------------------------------------

    def post(
        self,
        *,
        entry_id: str,
        source: str,
        order_id: str | None,
        lines: Iterable[LedgerLine],
        booked_at: datetime,
    ) -> bool:
        """Post a balanced entry; returns False (and changes nothing) if it was posted before."""
        if entry_id in self.posted:
            return False
        if not entry_id or len(entry_id) > 200:
            raise ValidationError("an entry id has 1 to 200 characters", "entry_id")
        if source not in SOURCES:
            raise ValidationError(f"source must be one of {', '.join(sorted(SOURCES))}", "source")
        if booked_at.tzinfo is None:
            raise ValidationError("booked_at must be timezone-aware", "booked_at")
        checked = check_balanced(lines)
        self.trigger_event(
            self.LedgerEntryPosted,
            entry_id=entry_id,
            source=source,
            order_id=order_id,
            currency=self.currency,
            lines=[line.as_dict() for line in checked],
            booked_at=booked_at,
        )
        return True

    def post_payment(
        self, *, payment_id: str, order_id: str, amount: Money, booked_at: datetime
    ) -> bool:
        self._require_positive(amount)
        return self.post(
            entry_id=payment_entry_id(payment_id),
            source="payment",
            order_id=order_id,
            lines=payment_lines(amount),
            booked_at=booked_at,
        )

    def post_refund(
        self, *, refund_id: str, order_id: str, amount: Money, booked_at: datetime
    ) -> bool:
        self._require_positive(amount)
        return self.post(
            entry_id=refund_entry_id(refund_id),
            source="refund",
            order_id=order_id,
            lines=refund_lines(amount),
            booked_at=booked_at,
        )

    def _require_positive(self, amount: Money) -> None:
        if amount.currency != self.currency:
            raise InvariantViolationError(
                f"a {amount.currency} amount cannot be posted to the {self.currency} ledger"
            )
        if amount.amount <= 0:
            raise ValidationError("a posted amount is positive", "amount")

    # -- queries -------------------------------------------------------------------------

    def balance(self, account: str) -> int:
        """Debits minus credits of ``account``."""
        return self.balances.get(account, 0)

    @property
    def cash(self) -> Money:
        """Money held: payments received minus refunds paid out."""
        return Money(self.balance(CASH), self.currency)

    @property
    def net_revenue(self) -> Money:
        """Revenue (a credit balance) less refunds (a debit balance)."""
        return Money(-self.balance(REVENUE) - self.balance(REFUNDS), self.currency)

    @property
    def trial_balance(self) -> int:
        """The sum of every account balance: zero whenever the books balance."""
        return sum(self.balances.values())
