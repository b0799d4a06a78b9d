"""FinanceAgent: payments and refunds become balanced ledger entries, exactly once.

PaymentRecorded -> debit cash, credit revenue. RefundIssued -> debit refunds, credit cash.
The entry is saved with the tracking record of the upstream event in one transaction, and
its id is derived from the payment or refund id, so neither a redelivery nor a second
replica can post it twice.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Protocol

from eventsourcing.persistence import Tracking

from application.agents.base import Agent, Envelope
from application.finance import FinanceApplication
from domain.shared.money import Money

NAME = "agent-finance"


class TimedEnvelope(Envelope, Protocol):
    occurred_at: datetime


class FinancePolicies:
    """Orders' money movements -> ledger entries."""

    def __init__(self, finance: FinanceApplication) -> None:
        self.finance = finance

    def on_payment_recorded(self, envelope: TimedEnvelope, tracking: Tracking) -> None:
        data = envelope.data
        self.finance.post_payment(
            payment_id=str(data["payment_id"]),
            order_id=envelope.aggregate_id,
            amount=Money(int(data["amount"]), str(data["currency"])),
            booked_at=envelope.occurred_at,
            tracking=tracking,
        )

    def on_refund_issued(self, envelope: TimedEnvelope, tracking: Tracking) -> None:
        data = envelope.data
        self.finance.post_refund(
            refund_id=str(data["refund_id"]),
            order_id=envelope.aggregate_id,
            amount=Money(int(data["amount"]), str(data["currency"])),
            booked_at=envelope.occurred_at,
            tracking=tracking,
        )


def finance_agent(finance: FinanceApplication) -> Agent:
    policies = FinancePolicies(finance)
    handlers: dict[str, Any] = {
        "PaymentRecorded": policies.on_payment_recorded,
        "RefundIssued": policies.on_refund_issued,
    }
    return Agent(NAME, ["orders"], handlers, finance)
