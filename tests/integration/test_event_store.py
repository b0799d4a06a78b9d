"""The write side against a real PostgreSQL: round trip, conflicts, idempotency, snapshots."""

from __future__ import annotations

import threading
import uuid

import psycopg
import pytest

from application.catalog import ListProduct
from application.errors import ConcurrencyConflictError
from application.orders import PlaceOrder, RecordPayment, RequestedLine
from domain.shared.metadata import EventMetadata, bound_metadata
from domain.shared.money import Money
from infrastructure.bootstrap import Container


def list_product(container: Container, stock: int = 10) -> uuid.UUID:
    result = container.catalog.list_product(
        ListProduct(
            title="Wool coat",
            description="Double-breasted",
            category="coats",
            brand="Atelier Nord",
            price=Money(45000, "EUR"),
        )
    )
    if stock:
        container.catalog.adjust_stock(result.aggregate.id, stock, "received")
    return result.aggregate.id


def test_events_round_trip_through_postgres(container: Container) -> None:
    product_id = list_product(container, stock=7)
    container.catalog.change_price(product_id, Money(39900, "EUR"))
    product = container.catalog.get_product(product_id)
    assert product.price == Money(39900, "EUR")
    assert product.on_hand == 7
    assert product.version == 3


def test_metadata_is_stored_with_every_event(container: Container, database_url: str) -> None:
    with bound_metadata(EventMetadata("corr-42", "http:req-1", "merchant:m1")):
        product_id = list_product(container, stock=1)
    with psycopg.connect(database_url) as conn:
        states = conn.execute(
            "SELECT state FROM modiste_events WHERE originator_id = %s ORDER BY originator_version",
            (product_id,),
        ).fetchall()
    assert len(states) == 2
    for (state,) in states:
        text = bytes(state).decode()
        assert '"correlation_id":"corr-42"' in text
        assert '"actor":"merchant:m1"' in text


def test_positions_are_increasing_notification_ids(container: Container) -> None:
    first = container.catalog.list_product(
        ListProduct(title="A", description="", category="c", brand="b", price=Money(1, "EUR"))
    )
    second = container.catalog.list_product(
        ListProduct(title="B", description="", category="c", brand="b", price=Money(1, "EUR"))
    )
    assert first.position is not None and second.position is not None
    assert second.position > first.position


def test_stale_expected_version_is_a_conflict_not_a_lost_update(container: Container) -> None:
    product_id = list_product(container, stock=0)
    container.catalog.change_price(product_id, Money(100, "EUR"), expected_version=1)
    with pytest.raises(ConcurrencyConflictError):
        container.catalog.change_price(product_id, Money(200, "EUR"), expected_version=1)
    assert container.catalog.get_product(product_id).price == Money(100, "EUR")


def test_concurrent_stock_adjustments_are_all_applied(container: Container) -> None:
    product_id = list_product(container, stock=0)
    workers, per_worker = 8, 5

    def receive() -> None:
        for _ in range(per_worker):
            container.catalog.adjust_stock(product_id, 1, "received")

    threads = [threading.Thread(target=receive) for _ in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    product = container.catalog.get_product(product_id)
    assert product.on_hand == workers * per_worker
    assert product.version == 1 + workers * per_worker


def test_placing_an_order_twice_with_one_key_creates_one_order(container: Container) -> None:
    product_id = list_product(container)
    command = PlaceOrder(
        customer_id="c1",
        currency="EUR",
        lines=[RequestedLine(product_id, 1)],
        idempotency_key="key-1",
    )
    first = container.orders.place_order(command)
    second = container.orders.place_order(command)
    assert first.aggregate.id == second.aggregate.id
    assert second.position is None


def test_payment_retried_with_one_key_is_recorded_once(container: Container) -> None:
    product_id = list_product(container)
    order = container.orders.place_order(
        PlaceOrder(customer_id="c1", currency="EUR", lines=[RequestedLine(product_id, 2)])
    ).aggregate
    payment = RecordPayment(
        order_id=order.id,
        amount=Money(30000, "EUR"),
        method="card",
        provider_ref="psp_1",
        idempotency_key="pay-1",
    )
    container.orders.record_payment(payment)
    container.orders.record_payment(payment)
    assert container.orders.get_order(order.id).paid == 30000


def test_long_streams_are_snapshotted(container: Container, database_url: str) -> None:
    product_id = list_product(container, stock=0)
    for _ in range(120):
        container.catalog.adjust_stock(product_id, 1, "received")
    with psycopg.connect(database_url) as conn:
        versions = [
            row[0]
            for row in conn.execute(
                "SELECT originator_version FROM modiste_snapshots WHERE originator_id = %s "
                "ORDER BY originator_version",
                (product_id,),
            )
        ]
    assert versions == [50, 100]
    assert container.catalog.get_product(product_id).on_hand == 120
