"""The orders context: an Order, its lines, payments, refunds and lifecycle."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from domain.shared.aggregate import ModisteAggregate
from domain.shared.errors import InvariantViolationError, ValidationError
from domain.shared.money import Money

MAX_LINES = 100
MAX_QUANTITY_PER_LINE = 1000
PAYMENT_METHODS = frozenset({"card", "bank_transfer", "wallet", "voucher"})


class OrderStatus(StrEnum):
    PLACED = "placed"
    CONFIRMED = "confirmed"
    REJECTED = "rejected"
    PAID = "paid"
    SHIPPED = "shipped"
    CANCELLED = "cancelled"


@dataclass(frozen=True)
class OrderLine:
    """A product at the unit price it had when the order was placed."""

    product_id: str
    title: str
    quantity: int
    unit_price: int
    currency: str

    @property
    def subtotal(self) -> Money:
        return Money(self.unit_price, self.currency) * self.quantity

    def as_dict(self) -> dict[str, Any]:
        return {
            "product_id": self.product_id,
            "title": self.title,
            "quantity": self.quantity,
            "unit_price": self.unit_price,
            "currency": self.currency,
        }


def price_lines(lines: list[OrderLine]) -> Money:
    """Total of ``lines``; they must share one currency and have positive quantities."""
    if not lines:
        raise ValidationError("an order needs at least one line", "lines")
    if len(lines) > MAX_LINES:
        raise ValidationError(f"an order has at most {MAX_LINES} lines", "lines")
    seen: set[str] = set()
    total = Money.zero(lines[0].currency)
    for index, line in enumerate(lines):
        if line.quantity <= 0:
            raise ValidationError("quantity must be at least 1", f"lines[{index}].quantity")
        if line.quantity > MAX_QUANTITY_PER_LINE:
            raise ValidationError(
                f"quantity is at most {MAX_QUANTITY_PER_LINE}", f"lines[{index}].quantity"
            )
        if line.product_id in seen:
            raise ValidationError(
                "each product appears once; raise its quantity instead",
                f"lines[{index}].product_id",
            )
        seen.add(line.product_id)
        if line.currency != total.currency:
            raise ValidationError(
                "all lines of an order share one currency", f"lines[{index}].currency"
            )
        total = total + line.subtotal
    return total


class Order(ModisteAggregate):
    """An order placed by a customer. Never paid beyond its total; never paid once cancelled."""

    class OrderPlaced(ModisteAggregate.Created):
        customer_id: str
        lines: list[dict[str, Any]]
        total: int
        currency: str
        campaign_code: str | None

    class OrderConfirmed(ModisteAggregate.Event):
        def apply(self, aggregate: Any) -> None:
            aggregate.status = OrderStatus.CONFIRMED

    class OrderRejected(ModisteAggregate.Event):
        reason: str

        def apply(self, aggregate: Any) -> None:
            aggregate.status = OrderStatus.REJECTED
            aggregate.rejection_reason = self.reason

    class PaymentRecorded(ModisteAggregate.Event):
        payment_id: str
        amount: int
        currency: str
        method: str
        provider_ref: str

        def apply(self, aggregate: Any) -> None:
            aggregate.payments[self.payment_id] = self.amount
            aggregate.paid += self.amount

    class OrderPaid(ModisteAggregate.Event):
        amount: int
        currency: str

        def apply(self, aggregate: Any) -> None:
            aggregate.is_paid = True
            if aggregate.status in (OrderStatus.PLACED, OrderStatus.CONFIRMED):
                aggregate.status = OrderStatus.PAID

    class OrderShipped(ModisteAggregate.Event):
        carrier: str
        tracking_code: str

        def apply(self, aggregate: Any) -> None:
            aggregate.status = OrderStatus.SHIPPED

    class OrderCancelled(ModisteAggregate.Event):
        reason: str

        def apply(self, aggregate: Any) -> None:
            aggregate.status = OrderStatus.CANCELLED
            aggregate.cancellation_reason = self.reason

    class RefundIssued(ModisteAggregate.Event):
        refund_id: str
        amount: int
        currency: str
        reason: str

        def apply(self, aggregate: Any) -> None:
            aggregate.refunds[self.refund_id] = self.amount
            aggregate.refunded += self.amount

    def __init__(
        self,
        customer_id: str,
        lines: list[dict[str, Any]],
        total: int,
        currency: str,
        campaign_code: str | None,
    ) -> None:
        self.customer_id = customer_id
        self.lines = [OrderLine(**line) for line in lines]
        self.total = Money(total, currency)
        self.campaign_code = campaign_code
        self.status = OrderStatus.PLACED
        self.payments: dict[str, int] = {}
        self.paid = 0
        self.refunds: dict[str, int] = {}
        self.refunded = 0
        self.is_paid = False
        self.rejection_reason: str | None = None
        self.cancellation_reason: str | None = None

    # -- commands ------------------------------------------------------------------------

    @classmethod
    def place(
        cls,
        *,
        customer_id: str,
        lines: list[OrderLine],
        campaign_code: str | None = None,
        order_id: uuid.UUID | None = None,
    ) -> Order:
        """Place an order for priced lines (prices fixed by the caller from the catalog)."""
        if not customer_id:
            raise ValidationError("an order needs a customer", "customer_id")
        total = price_lines(lines)
        order: Order = cls._create(
            cls.OrderPlaced,
            id=order_id or uuid.uuid4(),
            customer_id=customer_id,
            lines=[line.as_dict() for line in lines],
            total=total.amount,
            currency=total.currency,
            campaign_code=campaign_code,
        )
        return order

    def confirm(self) -> None:
        """Mark the order confirmed once its stock is reserved (no-op if already confirmed)."""
        if self.status is not OrderStatus.PLACED:
            return
        self.trigger_event(self.OrderConfirmed)

    def reject(self, reason: str) -> None:
        """Reject an order that cannot be fulfilled (no-op unless it is still placed)."""
        if self.status is not OrderStatus.PLACED:
            return
        self.trigger_event(self.OrderRejected, reason=reason)

    def record_payment(
        self, *, payment_id: str, amount: Money, method: str, provider_ref: str
    ) -> bool:
        """Record a payment; returns False when ``payment_id`` was recorded before.

        When the payments cover the total, the order becomes paid in the same save.
        """
        if payment_id in self.payments:
            return False
        if self.status in (OrderStatus.CANCELLED, OrderStatus.REJECTED):
            raise InvariantViolationError(f"order is {self.status.value}: it takes no payment")
        if amount.currency != self.total.currency:
            raise ValidationError(
                f"payment currency {amount.currency} differs from the order's "
                f"{self.total.currency}",
                "currency",
            )
        if amount.amount <= 0:
            raise ValidationError("a payment amount is positive", "amount")
        if method not in PAYMENT_METHODS:
            raise ValidationError(
                f"method must be one of {', '.join(sorted(PAYMENT_METHODS))}", "method"
            )
        if self.paid + amount.amount > self.total.amount:
            raise InvariantViolationError(
                f"payment of {amount} would exceed the outstanding "
                f"{Money(self.outstanding, self.total.currency)}"
            )
        self.trigger_event(
            self.PaymentRecorded,
            payment_id=payment_id,
            amount=amount.amount,
            currency=amount.currency,
            method=method,
            provider_ref=provider_ref,
        )
        if self.paid == self.total.amount:
            self.trigger_event(self.OrderPaid, amount=self.paid, currency=self.total.currency)
        return True

    def ship(self, carrier: str, tracking_code: str) -> None:
        """Ship a paid, confirmed order."""
        if self.status is not OrderStatus.PAID:
            raise InvariantViolationError(f"only paid orders ship; this one is {self.status.value}")
        self.trigger_event(self.OrderShipped, carrier=carrier, tracking_code=tracking_code)

    def cancel(self, reason: str) -> None:
        """Cancel an order that has not shipped (no-op if already cancelled)."""
        if self.status is OrderStatus.CANCELLED:
            return
        if self.status in (OrderStatus.SHIPPED, OrderStatus.REJECTED):
            raise InvariantViolationError(f"a {self.status.value} order cannot be cancelled")
        self.trigger_event(self.OrderCancelled, reason=reason.strip()[:200])

    def issue_refund(self, *, refund_id: str, amount: Money, reason: str) -> bool:
        """Refund part or all of what was paid; returns False if ``refund_id`` was issued."""
        if refund_id in self.refunds:
            return False
        if amount.currency != self.total.currency:
            raise ValidationError("a refund is in the order's currency", "currency")
        if amount.amount <= 0:
            raise ValidationError("a refund amount is positive", "amount")
        if self.refunded + amount.amount > self.paid:
            raise InvariantViolationError("cannot refund more than was paid")
        self.trigger_event(
            self.RefundIssued,
            refund_id=refund_id,
            amount=amount.amount,
            currency=amount.currency,
            reason=reason,
        )
        return True

    # -- queries -------------------------------------------------------------------------

    @property
    def outstanding(self) -> int:
        return self.total.amount - self.paid
