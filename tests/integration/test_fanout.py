"""Event store -> relay -> JetStream -> projectors, against real servers."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import asyncpg
import nats
from nats.js.errors import NotFoundError

from application.catalog import ListProduct
from application.orders import PlaceOrder, RequestedLine
from domain.shared.metadata import EventMetadata, bound_metadata
from domain.shared.money import Money
from infrastructure.bootstrap import Container
from projections.runner import wait_for_position
from tests.servers import RunningServers


async def wait_for_stream_messages(js: Any, count: int, timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            if (await js.stream_info("MODISTE_EVENTS")).state.messages >= count:
                return
        except NotFoundError:
            pass  # the relay has not created the stream yet
        assert time.monotonic() < deadline, "relay did not publish in time"
        await asyncio.sleep(0.1)


async def test_listed_products_reach_the_catalog_read_model(
    container: Container, database_url: str, pipeline: Any
) -> None:
    with bound_metadata(EventMetadata("corr-fanout", "test", "merchant:m1")):
        listed = await asyncio.to_thread(
            container.catalog.list_product,
            ListProduct(
                title="Linen blazer",
                description="",
                category="jackets",
                brand="Nord",
                price=Money(25900, "EUR"),
            ),
        )
        adjusted = await asyncio.to_thread(
            container.catalog.adjust_stock, listed.aggregate.id, 4, "delivery"
        )
    pool = await asyncpg.create_pool(database_url, min_size=1, max_size=2)
    try:
        assert adjusted.position is not None
        assert await wait_for_position(pool, "catalog", adjusted.position, wait_seconds=15)
        row = await pool.fetchrow(
            "SELECT title, price, on_hand, available, version FROM read.catalog_products "
            "WHERE product_id = $1",
            listed.aggregate.id,
        )
        assert dict(row) == {
            "title": "Linen blazer",
            "price": 25900,
            "on_hand": 4,
            "available": 4,
            "version": 2,
        }
    finally:
        await pool.close()


async def test_relay_publishes_in_order_with_dedup_headers(
    container: Container, servers: RunningServers, pipeline: Any
) -> None:
    product = await asyncio.to_thread(
        container.catalog.list_product,
        ListProduct(
            title="Scarf",
            description="",
            category="accessories",
            brand="b",
            price=Money(3000, "EUR"),
        ),
    )
    for _ in range(5):
        await asyncio.to_thread(container.catalog.adjust_stock, product.aggregate.id, 1, "in")
    nc = await nats.connect(servers.nats_url)
    try:
        js = nc.jetstream()
        await wait_for_stream_messages(js, 6)
        positions, ids = [], []
        for seq in range(1, 7):
            msg = await js.get_msg("MODISTE_EVENTS", seq=seq)
            positions.append(int(msg.headers["Modiste-Position"]))
            ids.append(msg.headers["Nats-Msg-Id"])
        assert positions == sorted(positions)
        assert ids == [f"{product.aggregate.id}:{v}" for v in range(1, 7)]
        assert msg.subject == "modiste.events.catalog.StockAdjusted"
    finally:
        await nc.drain()


async def test_order_history_projects_placed_orders(
    container: Container, database_url: str, pipeline: Any
) -> None:
    product = await asyncio.to_thread(
        container.catalog.list_product,
        ListProduct(
            title="Boots", description="", category="shoes", brand="b", price=Money(9000, "EUR")
        ),
    )
    placed = await asyncio.to_thread(
        container.orders.place_order,
        PlaceOrder(
            customer_id="alice", currency="EUR", lines=[RequestedLine(product.aggregate.id, 2)]
        ),
    )
    pool = await asyncpg.create_pool(database_url, min_size=1, max_size=2)
    try:
        assert placed.position is not None
        assert await wait_for_position(pool, "orders", placed.position, wait_seconds=15)
        row = await pool.fetchrow(
            "SELECT customer_id, status, total, item_count FROM read.orders WHERE order_id = $1",
            placed.aggregate.id,
        )
        assert dict(row) == {
            "customer_id": "alice",
            "status": "placed",
            "total": 18000,
            "item_count": 2,
        }
    finally:
        await pool.close()
