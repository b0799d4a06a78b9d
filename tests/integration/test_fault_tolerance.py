"""Fault tolerance of the fan-out, against real servers and real processes.

Every process here is started as a user starts it (`modiste relay`, `modiste worker
--group projections`, writer processes on the Applications) and crashed the hard way
(SIGKILL, or a SIGKILL of the NATS server itself). What each test proves afterwards:

* every committed event is in JetStream exactly once, in notification-id order;
* the read models equal, row for row, a from-scratch rebuild from the event store;
* nothing was applied twice and nothing is missing (per-aggregate versions are the latest).

Every wait is bounded. The NATS server is shared by the whole session, so a test that
stops or kills it starts it again (same port, same store) before it ends, pass or fail.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from application.catalog import ListProduct
from domain.shared.money import Money
from infrastructure.bootstrap import Container
from tests.integration.fault_helpers import (
    ProcessGroup,
    WriterPlan,
    assert_equals_rebuild,
    assert_stream_matches_store,
    caught_up,
    event_store_head,
    expected_versions,
    fetch,
    fetch_read_model,
    process_group,
    projection_positions,
    start_writers,
    wait_until,
)
from tests.servers import RunningServers

CATCH_UP_SECONDS = 90  # a busy 2-core machine, several processes importing at once


@pytest.fixture
def group(
    database_url: str, servers: RunningServers, clean_streams: None, tmp_path: Path
) -> Iterator[ProcessGroup]:
    with process_group(database_url, servers.nats_url, tmp_path) as running:
        yield running


def wait_caught_up(group: ProcessGroup, names: tuple[str, ...] = ("catalog", "orders")) -> None:
    wait_until(
        lambda: caught_up(group.database_url, names),
        CATCH_UP_SECONDS,
        "the read models to catch up with the event store",
        interval=0.2,
        diagnostics=lambda: (
            f"head={event_store_head(group.database_url)} "
            f"positions={projection_positions(group.database_url)}\n{group.logs()}"
        ),
    )


def assert_complete(group: ProcessGroup, names: tuple[str, ...] = ("catalog", "orders")) -> None:
    """Every aggregate of every read model is at its latest version: no gaps, no extras."""
    for name in names:
        expected = expected_versions(group.database_url, name)
        recorded = dict(
            fetch(
                group.database_url,
                "SELECT aggregate_id, version FROM read.projection_versions "
                "WHERE projection = %s",
                name,
            )
        )
        assert recorded == expected, f"{name}: versions differ from the event store"


def assert_applied_once(group: ProcessGroup) -> None:
    """``events_applied`` counts only new events: it equals the catalog events in the store."""
    [(catalog_events,)] = fetch(
        group.database_url,
        "SELECT count(*) FROM modiste_events WHERE topic LIKE 'domain.catalog.%%'",
    )
    [(applied,)] = fetch(
        group.database_url,
        "SELECT events_applied FROM read.projection_positions WHERE name = 'catalog'",
    )
    assert applied == catalog_events, f"catalog applied {applied} of {catalog_events} events"


def list_shared_products(container: Container, count: int) -> list[str]:
    return [
        str(
            container.catalog.list_product(
                ListProduct(
                    title=f"Shared {i}",
                    description="",
                    category="scarves",
                    brand="Nord",
                    price=Money(5000 + i, "EUR"),
                )
            ).aggregate.id
        )
        for i in range(count)
    ]


# -- concurrent writers --------------------------------------------------------------------


def test_concurrent_writer_processes_never_make_the_relay_skip_an_event(
    group: ProcessGroup, container: Container
) -> None:
    """Four processes append at once while the relay follows the log (Marten's gap bug).

    Notification ids come from a sequence; without the library's LOCK TABLE ... IN
    EXCLUSIVE MODE around the insert, a transaction holding id N could commit after one
    holding N+1, and a relay that had already read past N+1 would never see N. Rolled-back
    saves (version conflicts on the shared products) leave real holes in the sequence too.
    """
    shared = list_shared_products(container, 3)
    relay = group.relay()
    worker = group.worker("projections")
    writers = start_writers(
        group, 4, WriterPlan(products=40, adjustments=250, listing_batch=4, shared=shared)
    )
    summaries = writers.wait(timeout=150)
    assert relay.running() and worker.running(), group.logs()
    wait_caught_up(group, ("catalog",))

    committed = sum(s["commands"] for s in summaries)
    assert committed >= 4 * (10 + 200)  # listing saves + adjustments that won their races
    assert_stream_matches_store(group.database_url, group.nats_url)
    group.stop_all()
    assert_complete(group, ("catalog",))
    assert_applied_once(group)
    assert_equals_rebuild(group.database_url, ("catalog",))
    stock = dict(
        fetch(group.database_url, "SELECT product_id::text, on_hand FROM read.catalog_products")
    )
    for product_id in shared:
        assert stock[product_id] == container.catalog.get_product(uuid.UUID(product_id)).on_hand


# -- kill -9 of the relay and of a projection worker ---------------------------------------


def test_relay_and_projection_worker_killed_mid_run_lose_and_duplicate_nothing(
    group: ProcessGroup,
) -> None:
    relay = group.relay()
    worker = group.worker("projections")
    writers = start_writers(
        group, 3, WriterPlan(products=30, adjustments=700, orders=100, listing_batch=5)
    )
    db = group.database_url

    wait_until(lambda: event_store_head(db) >= 600, 120, "600 events", diagnostics=group.logs)
    relay.kill9()
    relay.start()
    wait_until(
        lambda: projection_positions(db).get("catalog", 0) >= 1300,
        120,
        "the catalog to pass position 1300",
        diagnostics=group.logs,
    )
    worker.kill9()
    worker.start()
    wait_until(lambda: event_store_head(db) >= 2000, 120, "2000 events", diagnostics=group.logs)
    relay.kill9()
    relay.start()
    summaries = writers.wait(timeout=180)
    assert not writers.processes[0].running()
    print("SUMMARIES", summaries, event_store_head(db))
    wait_caught_up(group)
    wait_until(lambda: _complete(group), CATCH_UP_SECONDS, "every event applied",
               diagnostics=group.logs)
    assert_stream_matches_store(db, group.nats_url)
    group.stop_all()
    assert_complete(group)
    assert_applied_once(group)
    assert_equals_rebuild(db)
    [(dead,)] = fetch(db, "SELECT count(*) FROM read.dead_letters")
    assert dead == 0


def _complete(group: ProcessGroup) -> bool:
    try:
        assert_complete(group)
    except AssertionError:
        return False
    return True


async def test_a_crashed_workers_in_flight_events_do_not_dead_letter_their_successors(
    group: ProcessGroup, container: Container
) -> None:
    """A worker dies holding a fetched, un-acked batch: JetStream redelivers it only after
    ack_wait (30 s), while the replacement worker already gets the later events of the same
    aggregates. Those must not bounce until they are dead-lettered (max_deliver=2 here)."""
    import nats
    from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

    group.env_extra["MODISTE_CONSUMER_MAX_DELIVER"] = "2"
    relay = group.relay()
    product = container.catalog.list_product(
        ListProduct(title="Held", description="", category="hats", brand="b",
                    price=Money(1200, "EUR"))
    ).aggregate
    container.catalog.adjust_stock(product.id, 5, "delivery")
    db = group.database_url
    nc = await nats.connect(group.nats_url)
    try:
        js = nc.jetstream()
        await asyncio.to_thread(
            wait_until, lambda: _stream_count(group) >= 2, 60, "the relay to publish",
        )
        await js.add_consumer("MODISTE_EVENTS", ConsumerConfig(
            durable_name="projection-catalog", deliver_policy=DeliverPolicy.ALL,
            ack_policy=AckPolicy.EXPLICIT, ack_wait=30, max_deliver=2, max_ack_pending=2000,
            filter_subject="modiste.events.>"))
        crashed = await js.pull_subscribe_bind(durable="projection-catalog",
                                               stream="MODISTE_EVENTS")
        held = await crashed.fetch(2, timeout=10)  # v1 and v2, never acked: the "crash"
        assert [m.headers["Nats-Msg-Id"] for m in held] == [f"{product.id}:1", f"{product.id}:2"]
    finally:
        await nc.close()
    adjusted = container.catalog.adjust_stock(product.id, 3, "delivery")
    worker = group.worker("projections")
    await asyncio.to_thread(
        wait_until,
        lambda: fetch_read_model(db, "SELECT on_hand, version FROM read.catalog_products "
                          "WHERE product_id = %s", product.id) == [(8, 3)],
        20,  # well inside ack_wait: v1 and v2 come from the event store, not a redelivery
        "v3 to be applied with its predecessors",
        diagnostics=group.logs,
    )
    assert worker.running() and relay.running()
    assert fetch(db, "SELECT count(*) FROM read.dead_letters") == [(0,)]
    assert adjusted.position is not None
    assert projection_positions(db)["catalog"] >= adjusted.position


def _stream_count(group: ProcessGroup) -> int:
    async def count() -> int:
        import nats
        from nats.js.errors import NotFoundError

        nc = await nats.connect(group.nats_url)
        try:
            return (await nc.jetstream().stream_info("MODISTE_EVENTS")).state.messages
        except NotFoundError:
            return 0
        finally:
            await nc.close()

    return asyncio.run(count())
