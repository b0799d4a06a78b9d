"""CommerceAgent: the order saga.

OrderPlaced -> reserve every line's stock and confirm, or reject with the reason. All
aggregates of one step (the order and its products) are saved in one transaction with the
tracking record, so a step never half-happens: a line that cannot be reserved leaves no
reservation behind to compensate. OrderCancelled -> release the reservations and refund
what was paid. OrderShipped -> the reserved units leave the warehouse.
"""

from __future__ import annotations

import uuid
from typing import Any

from eventsourcing.persistence import Tracking

from application.agents.base import Agent, Envelope
from application.catalog import CatalogApplication
from application.errors import NotFoundError
from application.orders import OrdersApplication, idempotent_id
from domain.catalog.aggregates import Product
from domain.orders.aggregates import Order, OrderStatus
from domain.shared.errors import DomainError
from domain.shared.money import Money

NAME = "agent-commerce"


class CommercePolicies:
    """The saga's steps; each is one atomic save with the upstream tracking record."""

    def __init__(self, catalog: CatalogApplication, orders: OrdersApplication) -> None:
        self.catalog = catalog
        self.orders = orders

    def _order(self, envelope: Envelope) -> Order:
        return self.orders.load(uuid.UUID(envelope.aggregate_id), Order)

    def _products(self, order: Order) -> dict[str, Product | None]:
        products: dict[str, Product | None] = {}
        for line in order.lines:
            try:
                products[line.product_id] = self.catalog.load(uuid.UUID(line.product_id), Product)
            except NotFoundError:
                products[line.product_id] = None
        return products

    def on_order_placed(self, envelope: Envelope, tracking: Tracking) -> None:
        order = self._order(envelope)
        if order.status is not OrderStatus.PLACED:
            self.orders.save_tracked(tracking)
            return
        products = self._products(order)
        problem = None
        for line in order.lines:
            product = products[line.product_id]
            if product is None:
                problem = f"product {line.product_id} no longer exists"
                break
            try:
                product.reserve(order.id, line.quantity)
            except DomainError as exc:
                problem = str(exc)
                break
        if problem is None:
            order.confirm()
            self.orders.save_tracked(tracking, order, *[p for p in products.values() if p])
        else:
            # Nothing reserved is saved: the reservations made in memory are dropped.
            order.reject(problem)
            self.orders.save_tracked(tracking, order)

    def on_order_cancelled(self, envelope: Envelope, tracking: Tracking) -> None:
        order = self._order(envelope)
        products = [p for p in self._products(order).values() if p is not None]
        for product in products:
            product.release(order.id)
        refundable = order.paid - order.refunded
        if refundable > 0:
            order.issue_refund(
                refund_id=str(idempotent_id("refund", str(order.id), "cancellation")),
                amount=Money(refundable, order.total.currency),
                reason=order.cancellation_reason or "order cancelled",
            )
        self.orders.save_tracked(tracking, order, *products)

    def on_order_shipped(self, envelope: Envelope, tracking: Tracking) -> None:
        order = self._order(envelope)
        products = [p for p in self._products(order).values() if p is not None]
        for product in products:
            product.release(order.id, consumed=True)
        self.orders.save_tracked(tracking, *products)


def commerce_agent(catalog: CatalogApplication, orders: OrdersApplication) -> Agent:
    policies = CommercePolicies(catalog, orders)
    handlers: dict[str, Any] = {
        "OrderPlaced": policies.on_order_placed,
        "OrderCancelled": policies.on_order_cancelled,
        "OrderShipped": policies.on_order_shipped,
    }
    return Agent(NAME, ["orders"], handlers, orders)
