"""Order use cases: place, pay, cancel, read. Prices come from the catalog at placing time."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from eventsourcing.persistence import IntegrityError

from application.base import CommandResult, ModisteApplication, last_position
from application.errors import NotFoundError
from domain.catalog.aggregates import Product
from domain.marketing.aggregates import Campaign, campaign_id, normalise_code
from domain.orders.aggregates import Order, OrderLine
from domain.shared.errors import ValidationError
from domain.shared.money import Money, validate_currency

IDEMPOTENCY_NAMESPACE = uuid.UUID("6f1c3d1e-1a54-4d7e-9a3e-5f0d7c9b2a10")


def idempotent_id(*parts: str) -> uuid.UUID:
    """A deterministic id for a command retried under the same Idempotency-Key."""
    return uuid.uuid5(IDEMPOTENCY_NAMESPACE, "\x1f".join(parts))


@dataclass(frozen=True)
class RequestedLine:
    product_id: uuid.UUID
    quantity: int


@dataclass(frozen=True)
class PlaceOrder:
    customer_id: str
    currency: str
    lines: list[RequestedLine]
    campaign_code: str | None = None
    idempotency_key: str | None = None


@dataclass(frozen=True)
class RecordPayment:
    order_id: uuid.UUID
    amount: Money
    method: str
    provider_ref: str
    idempotency_key: str | None = None


class OrdersApplication(ModisteApplication):
    """The orders context's command and query façade."""

    def place_order(self, command: PlaceOrder) -> CommandResult[Order]:
        """Price the lines from the catalog and record OrderPlaced.

        With an idempotency key the order id is derived from it, so a retried request
        finds the order it created before instead of creating a second one.
        """
        validate_currency(command.currency)
        order_id = (
            idempotent_id("order", command.customer_id, command.idempotency_key)
            if command.idempotency_key
            else uuid.uuid4()
        )
        if command.idempotency_key:
            existing = self._find_order(order_id)
            if existing is not None:
                return CommandResult(existing, None)
        lines = [
            self._price_line(index, line, command.currency)
            for index, line in enumerate(command.lines)
        ]
        order = Order.place(
            customer_id=command.customer_id,
            lines=lines,
            campaign_code=self._running_campaign_code(command.campaign_code),
            order_id=order_id,
        )
        try:
            return CommandResult(order, last_position(self.save(order)))
        except IntegrityError:
            # A concurrent retry with the same key won the race: return its order.
            return CommandResult(self.load(order_id, Order), None)

    def record_payment(self, command: RecordPayment) -> CommandResult[Order]:
        payment_id = (
            str(idempotent_id("payment", str(command.order_id), command.idempotency_key))
            if command.idempotency_key
            else uuid.uuid4().hex
        )
        return self.execute(
            command.order_id,
            Order,
            lambda order: order.record_payment(
                payment_id=payment_id,
                amount=command.amount,
                method=command.method,
                provider_ref=command.provider_ref,
            ),
        )

    def cancel_order(self, order_id: uuid.UUID, reason: str) -> CommandResult[Order]:
        return self.execute(order_id, Order, lambda order: order.cancel(reason))

    def get_order(self, order_id: uuid.UUID) -> Order:
        return self.load(order_id, Order)

    def _find_order(self, order_id: uuid.UUID) -> Order | None:
        try:
            return self.load(order_id, Order)
        except NotFoundError:
            return None

    def _running_campaign_code(self, code: str | None) -> str | None:
        """The normalised code of a launched campaign; any other code is refused (422).

        Refusing at placing time tells the customer at once that the code is wrong, and
        keeps every attributed order attributable (see ADR 0009).
        """
        if code is None:
            return None
        normalised = normalise_code(code, "campaign_code")
        try:
            campaign = self.load(campaign_id(normalised), Campaign)
        except NotFoundError:
            raise ValidationError(
                f"campaign code {normalised} does not exist", "campaign_code"
            ) from None
        if not campaign.is_running:
            raise ValidationError(
                f"campaign {normalised} is {campaign.status}, not running", "campaign_code"
            )
        return normalised

    def _price_line(self, index: int, line: RequestedLine, currency: str) -> OrderLine:
        field = f"lines[{index}]"
        try:
            product = self.load(line.product_id, Product)
        except NotFoundError:
            raise ValidationError(
                f"product {line.product_id} does not exist", f"{field}.product_id"
            ) from None
        if not product.is_listed:
            raise ValidationError(
                f"product {line.product_id} is no longer listed", f"{field}.product_id"
            )
        if product.price.currency != currency:
            raise ValidationError(
                f"product {line.product_id} is priced in {product.price.currency}, not {currency}",
                "currency",
            )
        return OrderLine(
            product_id=str(product.id),
            title=product.title,
            quantity=line.quantity,
            unit_price=product.price.amount,
            currency=product.price.currency,
        )

