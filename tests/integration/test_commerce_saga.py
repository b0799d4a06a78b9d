"""The order saga through JetStream and the CommerceAgent, on real servers."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import psycopg

from application.catalog import ListProduct
from application.orders import PlaceOrder, RecordPayment, RequestedLine
from domain.orders.aggregates import Order, OrderStatus
from domain.shared.money import Money
from infrastructure.bootstrap import Container


def wait_for_status(
    container: Container, order_id: uuid.UUID, *statuses: OrderStatus, timeout: float = 20
) -> Order:
    deadline = time.monotonic() + timeout
    while True:
        order = container.orders.get_order(order_id)
        if order.status in statuses:
            return order
        assert time.monotonic() < deadline, f"order stayed {order.status}"
        time.sleep(0.05)


def a_product(container: Container, stock: int, price: int = 5000) -> uuid.UUID:
    product = container.catalog.list_product(
        ListProduct(
            title="Last silk scarf",
            description="",
            category="accessories",
            brand="b",
            price=Money(price, "EUR"),
        )
    ).aggregate
    container.catalog.adjust_stock(product.id, stock, "delivery")
    return product.id


def place(container: Container, customer: str, product_id: uuid.UUID, quantity: int) -> Order:
    return container.orders.place_order(
        PlaceOrder(
            customer_id=customer, currency="EUR", lines=[RequestedLine(product_id, quantity)]
        )
    ).aggregate


def test_an_order_with_stock_is_confirmed_and_reserves_it(
    container: Container, full_pipeline: Any
) -> None:
    product_id = a_product(container, stock=3)
    order = place(container, "alice", product_id, 2)
    assert (
        wait_for_status(container, order.id, OrderStatus.CONFIRMED).status is OrderStatus.CONFIRMED
    )
    product = container.catalog.get_product(product_id)
    assert (product.on_hand, product.reserved, product.available) == (3, 2, 1)


def test_an_order_without_stock_is_rejected_and_reserves_nothing(
    container: Container, full_pipeline: Any
) -> None:
    plenty = a_product(container, stock=10)
    scarce = a_product(container, stock=1)
    order = container.orders.place_order(
        PlaceOrder(
            customer_id="alice",
            currency="EUR",
            lines=[RequestedLine(plenty, 2), RequestedLine(scarce, 2)],
        )
    ).aggregate
    rejected = wait_for_status(container, order.id, OrderStatus.REJECTED)
    assert "only 1 available" in (rejected.rejection_reason or "")
    assert container.catalog.get_product(plenty).reserved == 0
    assert container.catalog.get_product(scarce).reserved == 0


def test_concurrent_orders_for_the_last_units_never_oversell(
    container: Container, full_pipeline: Any
) -> None:
    product_id = a_product(container, stock=3)
    orders = [place(container, f"customer-{i}", product_id, 1) for i in range(10)]
    final = [
        wait_for_status(container, o.id, OrderStatus.CONFIRMED, OrderStatus.REJECTED)
        for o in orders
    ]
    confirmed = [o for o in final if o.status is OrderStatus.CONFIRMED]
    assert len(confirmed) == 3
    product = container.catalog.get_product(product_id)
    assert product.available == 0 and product.reserved == 3


def test_cancelling_a_paid_order_releases_stock_and_refunds(
    container: Container, full_pipeline: Any
) -> None:
    product_id = a_product(container, stock=2, price=4000)
    order = place(container, "alice", product_id, 2)
    wait_for_status(container, order.id, OrderStatus.CONFIRMED)
    container.orders.record_payment(
        RecordPayment(
            order_id=order.id, amount=Money(8000, "EUR"), method="card", provider_ref="psp"
        )
    )
    container.orders.cancel_order(order.id, "changed my mind")
    deadline = time.monotonic() + 20
    while container.orders.get_order(order.id).refunded != 8000:
        assert time.monotonic() < deadline, "no refund was issued"
        time.sleep(0.05)
    assert container.catalog.get_product(product_id).available == 2


def test_a_redelivered_order_placed_is_applied_once(
    container: Container, database_url: str, full_pipeline: Any
) -> None:
    product_id = a_product(container, stock=5)
    order = place(container, "alice", product_id, 1)
    wait_for_status(container, order.id, OrderStatus.CONFIRMED)
    from application.agents.commerce import commerce_agent
    from infrastructure.eventstore.log import EventLog
    from interfaces.workers import AgentHandler

    log = EventLog(container.orders)
    [placed] = [
        e for e in log.iterate(0) if e.type == "OrderPlaced" and e.aggregate_id == str(order.id)
    ]
    handler = AgentHandler(commerce_agent(container.catalog, container.orders))
    asyncio.run(handler.handle(placed))
    asyncio.run(handler.handle(placed))
    product = container.catalog.get_product(product_id)
    assert product.reserved == 1
    with psycopg.connect(database_url) as conn:
        [(count,)] = conn.execute(
            "SELECT count(*) FROM modiste_tracking WHERE application_name = %s "
            "AND notification_id = %s",
            ("agent-commerce", placed.position),
        ).fetchall()
    assert count == 1
