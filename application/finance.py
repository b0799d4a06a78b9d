"""Finance use cases: post payments and refunds to the ledger of their currency."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime

from eventsourcing.persistence import Tracking

from application.base import CommandResult, ModisteApplication, last_position, retry_on_conflict
from application.errors import NotFoundError
from domain.finance.aggregates import Ledger, ledger_id
from domain.shared.money import Money


class FinanceApplication(ModisteApplication):
    """The finance context's façade. One ledger stream per currency."""

    def post_payment(
        self,
        *,
        payment_id: str,
        order_id: uuid.UUID | str,
        amount: Money,
        booked_at: datetime,
        tracking: Tracking | None = None,
    ) -> CommandResult[Ledger]:
        """Debit cash, credit revenue (a repeated ``payment_id`` changes nothing)."""
        return self._post(
            amount.currency,
            lambda ledger: ledger.post_payment(
                payment_id=payment_id, order_id=str(order_id), amount=amount, booked_at=booked_at
            ),
            tracking,
        )

    def post_refund(
        self,
        *,
        refund_id: str,
        order_id: uuid.UUID | str,
        amount: Money,
        booked_at: datetime,
        tracking: Tracking | None = None,
    ) -> CommandResult[Ledger]:
        """Debit refunds, credit cash (a repeated ``refund_id`` changes nothing)."""
        return self._post(
            amount.currency,
            lambda ledger: ledger.post_refund(
                refund_id=refund_id, order_id=str(order_id), amount=amount, booked_at=booked_at
            ),
            tracking,
        )

    def get_ledger(self, currency: str) -> Ledger:
        return self.load(ledger_id(currency), Ledger)

    def _post(
        self, currency: str, change: Callable[[Ledger], bool], tracking: Tracking | None
    ) -> CommandResult[Ledger]:
        def attempt() -> CommandResult[Ledger]:
            try:
                ledger = self.load(ledger_id(currency), Ledger)
            except NotFoundError:
                ledger = Ledger.open(currency)
            change(ledger)
            if not ledger.pending_events and tracking is None:
                return CommandResult(ledger, None)
            return CommandResult(ledger, last_position(self.save_tracked(tracking, ledger)))

        # With a tracking record the caller is an agent: a conflict goes back to it, so it
        # checks whether another replica handled the event before trying again.
        return attempt() if tracking is not None else retry_on_conflict(attempt)
