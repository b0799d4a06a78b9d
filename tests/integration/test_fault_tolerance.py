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
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from application.catalog import ListProduct
from domain.shared.money import Money
from infrastructure.bootstrap import Container
from infrastructure.local import LocalNats
from tests.integration.fault_helpers import (
    UNTIL_STOPPED,
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
    read_model_snapshot,
    start_writers,
    wait_until,
    write_commands,
)
from tests.servers import RunningServers

CATCH_UP_SECONDS = 90  # a busy 2-core machine, several processes importing at once


@pytest.fixture
def group(
    database_url: str, servers: RunningServers, clean_streams: None, tmp_path: Path
) -> Iterator[ProcessGroup]:
    with process_group(database_url, servers.nats_url, tmp_path) as running:
        yield running


@pytest.fixture
def nats_server(servers: RunningServers) -> Iterator[LocalNats]:
    """The session's NATS server, to stop or kill; running again when the test ends."""
    if servers.nats is None:
        pytest.skip("NATS comes from MODISTE_TEST_NATS_URL: this session cannot stop it")
    yield servers.nats
    if not servers.nats.is_running():
        servers.nats.start()


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
                "SELECT aggregate_id, version FROM read.projection_versions WHERE projection = %s",
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
        group, 4, WriterPlan(products=40, adjustments=200, listing_batch=4, shared=shared)
    )
    summaries = writers.wait(timeout=150)
    assert relay.running() and worker.running(), group.logs()
    wait_caught_up(group, ("catalog",))

    committed = sum(s["commands"] for s in summaries)
    assert committed >= 4 * (10 + 150)  # listing saves + adjustments that won their races
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


def test_the_insert_lock_hands_out_notification_ids_in_commit_order(
    container: Container, database_url: str
) -> None:
    """Why the relay cannot skip: the mechanism the test above exercises, step by step.

    Without a table lock, a transaction that drew id N can commit after one that drew N+1;
    a reader that has read N+1 moves past N and never sees it. The library's insert takes
    LOCK TABLE ... IN EXCLUSIVE MODE before it draws ids, so a second writer waits until
    the first has committed, and ids become visible in order.
    """
    import threading

    import psycopg

    first = container.catalog.list_product(
        ListProduct(
            title="Seed", description="", category="hats", brand="b", price=Money(100, "EUR")
        )
    )
    assert first.position is not None
    copy_event = (
        "INSERT INTO modiste_events (originator_id, originator_version, topic, state) "
        "SELECT gen_random_uuid(), 1, topic, state FROM modiste_events "
        "WHERE notification_id = %s RETURNING notification_id"
    )

    # The failure class, on the same table but without the lock (what the library avoids).
    with psycopg.connect(database_url) as slow, psycopg.connect(database_url) as fast:
        [(n,)] = slow.execute(copy_event, (first.position,)).fetchall()
        [(n_plus_1,)] = fast.execute(copy_event, (first.position,)).fetchall()
        fast.commit()
        reader_sees = [
            r[0]
            for r in fetch(
                database_url,
                "SELECT notification_id FROM modiste_events WHERE notification_id > %s",
                first.position,
            )
        ]
        assert n < n_plus_1 and reader_sees == [n_plus_1]  # a tailing reader moves past n
        slow.commit()  # ... and n appears behind it: a skipped event.

    # With the library's lock: the second writer (a real save) waits for the first.
    with psycopg.connect(database_url) as holder:
        holder.execute("LOCK TABLE modiste_events IN EXCLUSIVE MODE")
        [(held,)] = holder.execute(copy_event, (first.position,)).fetchall()
        saved: list[int | None] = []
        writer = threading.Thread(
            target=lambda: saved.append(
                container.catalog.adjust_stock(first.aggregate.id, 1, "in").position
            )
        )
        writer.start()
        wait_until(
            lambda: (
                fetch(
                    database_url,
                    "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                    "AND datname = current_database()",
                )[0][0]
                >= 1
            ),
            10,
            "the library's insert to wait for the table lock",
        )
        assert writer.is_alive() and not saved
        holder.commit()
    writer.join(30)
    assert saved and saved[0] is not None and saved[0] > held


# -- kill -9 of the relay and of a projection worker ---------------------------------------


def test_relay_and_projection_worker_killed_mid_run_lose_and_duplicate_nothing(
    group: ProcessGroup,
) -> None:
    """SIGKILL `modiste relay` twice and `modiste worker --group projections` once while
    three writers produce about 2,000 events; restart each at once.

    The relay restarts from its saved position (re-sent events are dropped by JetStream's
    de-duplication); the worker's uncommitted batch rolled back with the connection, and
    the events it held un-acked come back after ack_wait, long after their successors
    (which fill the gap from the event store).
    """
    db = group.database_url
    relay = group.relay()
    worker = group.worker("projections")
    plan = WriterPlan(
        products=30, adjustments=3000, orders=50, listing_batch=5, stop_file=UNTIL_STOPPED
    )
    writers = start_writers(group, 3, plan)

    def reach(what: str, predicate: Any) -> None:
        wait_until(predicate, 120, what, interval=0.05, diagnostics=group.logs)

    reach("500 events", lambda: event_store_head(db) >= 500)
    relay.kill9()
    relay.start()
    reach("the catalog at 900", lambda: projection_positions(db).get("catalog", 0) >= 900)
    worker.kill9()
    worker.start()
    reach("1400 events", lambda: event_store_head(db) >= 1400)
    relay.kill9()
    relay.start()
    reach("2000 events", lambda: event_store_head(db) >= 2000)
    writers.stop()
    writers.wait(timeout=60)
    wait_caught_up(group)
    wait_until(
        lambda: _complete(group), CATCH_UP_SECONDS, "every event applied", diagnostics=group.logs
    )
    assert relay.running() and worker.running(), group.logs()
    assert_stream_matches_store(db, group.nats_url)
    group.stop_all()
    assert_complete(group)
    assert_applied_once(group)
    assert_equals_rebuild(db)
    assert fetch(db, "SELECT count(*) FROM read.dead_letters") == [(0,)]


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
        ListProduct(
            title="Held", description="", category="hats", brand="b", price=Money(1200, "EUR")
        )
    ).aggregate
    container.catalog.adjust_stock(product.id, 5, "delivery")
    db = group.database_url
    nc = await nats.connect(group.nats_url)
    try:
        js = nc.jetstream()
        await asyncio.to_thread(
            wait_until,
            lambda: _stream_count(group) >= 2,
            60,
            "the relay to publish",
        )
        await js.add_consumer(
            "MODISTE_EVENTS",
            ConsumerConfig(
                durable_name="projection-catalog",
                deliver_policy=DeliverPolicy.ALL,
                ack_policy=AckPolicy.EXPLICIT,
                ack_wait=30,
                max_deliver=2,
                max_ack_pending=2000,
                filter_subject="modiste.events.>",
            ),
        )
        crashed = await js.pull_subscribe_bind(
            durable="projection-catalog", stream="MODISTE_EVENTS"
        )
        held = await crashed.fetch(2, timeout=10)  # v1 and v2, never acked: the "crash"
        assert [m.headers["Nats-Msg-Id"] for m in held] == [f"{product.id}:1", f"{product.id}:2"]
    finally:
        await nc.close()
    adjusted = container.catalog.adjust_stock(product.id, 3, "delivery")
    worker = group.worker("projections")
    await asyncio.to_thread(
        wait_until,
        lambda: (
            fetch_read_model(
                db,
                "SELECT on_hand, version FROM read.catalog_products WHERE product_id = %s",
                product.id,
            )
            == [(8, 3)]
        ),
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


# -- NATS outages --------------------------------------------------------------------------


def test_writes_succeed_while_nats_is_stopped_and_the_relay_catches_up(
    group: ProcessGroup, nats_server: LocalNats
) -> None:
    """The event store is the outbox: commands never need NATS."""
    db = group.database_url
    relay = group.relay()
    worker = group.worker("projections")
    plan = WriterPlan(products=20, adjustments=5000, orders=30, rate=60, stop_file=UNTIL_STOPPED)
    writers = start_writers(group, 2, plan)
    wait_until(
        lambda: projection_positions(db).get("catalog", 0) >= 150,
        120,
        "the pipeline to flow",
        diagnostics=group.logs,
    )
    url = nats_server.url
    nats_server.stop()
    try:
        down_at = event_store_head(db)
        wait_until(
            lambda: event_store_head(db) >= down_at + 150,
            60,
            "writes to go on while NATS is down",
            diagnostics=writers.logs,
        )
        stalled = projection_positions(db)["catalog"]
        assert stalled < event_store_head(db)
    finally:
        assert nats_server.start() == url
    up_at = event_store_head(db)
    wait_until(lambda: event_store_head(db) >= up_at + 100, 60, "writes after the restart")
    writers.stop()
    writers.wait(timeout=60)
    wait_caught_up(group)
    wait_until(
        lambda: _complete(group), CATCH_UP_SECONDS, "every event applied", diagnostics=group.logs
    )
    assert relay.running() and worker.running(), group.logs()
    assert_stream_matches_store(db, group.nats_url)
    group.stop_all()
    assert_applied_once(group)
    assert_equals_rebuild(db)


def test_nats_killed_mid_stream_loses_no_event_for_any_consumer(
    group: ProcessGroup, nats_server: LocalNats
) -> None:
    """SIGKILL the server while the relay publishes a backlog and writers keep writing.

    JetStream acknowledges before it fsyncs, so the restarted server may lack messages the
    relay saw acked. On reconnect the relay compares the stream's last Modiste-Position with
    its own and re-publishes from there; the consumers then get every event.
    """
    db = group.database_url
    plan = WriterPlan(
        products=30, adjustments=5000, listing_batch=10, rate=60, stop_file=UNTIL_STOPPED
    )
    writers = start_writers(group, 3, plan)
    wait_until(lambda: event_store_head(db) >= 300, 120, "a backlog", diagnostics=group.logs)
    relay = group.relay()
    worker = group.worker("projections")
    wait_until(
        lambda: projection_positions(db).get("catalog", 0) >= 200,
        120,
        "the relay and the worker to be busy",
        diagnostics=group.logs,
    )
    url = nats_server.url
    nats_server.kill()
    try:
        head = event_store_head(db)
        wait_until(
            lambda: event_store_head(db) > head + 50,
            60,
            "writes while NATS is dead",
            diagnostics=writers.logs,
        )
    finally:
        assert nats_server.start() == url
    up_at = event_store_head(db)
    wait_until(lambda: event_store_head(db) >= up_at + 100, 60, "writes after the restart")
    writers.stop()
    writers.wait(timeout=60)
    wait_caught_up(group)
    wait_until(
        lambda: _complete(group), CATCH_UP_SECONDS, "every event applied", diagnostics=group.logs
    )
    assert relay.running() and worker.running(), group.logs()
    print("relay rewound after the kill:", relay.log_contains("relay.stream_lost_events"))
    assert_stream_matches_store(db, group.nats_url)
    group.stop_all()
    assert_applied_once(group)
    assert_equals_rebuild(db)


async def test_the_relay_republishes_what_the_stream_lost(
    group: ProcessGroup, container: Container
) -> None:
    """Deterministic version of the crash above: the stream comes back with only its first
    messages while the relay's saved position is at the head. Without the reconciliation on
    (re)connect the lost events would never reach a consumer."""
    import nats

    from infrastructure.messaging.stream import StreamSettings, ensure_streams

    shared = await asyncio.to_thread(list_shared_products, container, 5)
    for n in range(60):
        await asyncio.to_thread(container.catalog.adjust_stock, uuid.UUID(shared[n % 5]), 1, "in")
    db = group.database_url
    head = event_store_head(db)
    relay = group.relay()
    await asyncio.to_thread(
        wait_until,
        lambda: fetch_read_model(db, "SELECT position FROM relay_positions") == [(head,)],
        60,
        "the relay to publish everything",
        diagnostics=group.logs,
    )
    relay.terminate()
    nc = await nats.connect(group.nats_url)
    try:  # the server "lost" everything after its 20th message
        js = nc.jetstream()
        kept = [await js.get_msg("MODISTE_EVENTS", seq=seq) for seq in range(1, 21)]
        await js.delete_stream("MODISTE_EVENTS")
        await ensure_streams(js, StreamSettings())
        for msg in kept:
            await js.publish(msg.subject, msg.data or b"", headers=msg.headers)
    finally:
        await nc.drain()
    [(saved,)] = fetch(db, "SELECT position FROM relay_positions")
    assert saved == head and int(kept[-1].headers["Modiste-Position"]) < head  # type: ignore[index]
    worker = group.worker("projections")
    await asyncio.to_thread(
        wait_until,
        lambda: (
            projection_positions(db).get("catalog", 0) == int(kept[-1].headers["Modiste-Position"])
        ),  # type: ignore[index]
        60,
        "the worker to apply what the stream kept",
        diagnostics=group.logs,
    )
    relay.start()
    await asyncio.to_thread(wait_caught_up, group, ("catalog",))
    assert relay.log_contains("relay.stream_lost_events")
    assert worker.running()
    await asyncio.to_thread(assert_stream_matches_store, db, group.nats_url)
    group.stop_all()
    await asyncio.to_thread(assert_complete, group, ("catalog",))
    await asyncio.to_thread(assert_equals_rebuild, db, ("catalog",))


async def test_a_stream_emptied_by_policy_does_not_stall_the_relay(
    group: ProcessGroup, container: Container
) -> None:
    """Messages aged out (max age) or purged are gone on purpose, not lost in a crash: the
    relay must neither stall on the missing last message nor re-publish them."""
    import nats

    shared = await asyncio.to_thread(list_shared_products, container, 3)
    db = group.database_url
    head = event_store_head(db)
    relay = group.relay()
    await asyncio.to_thread(
        wait_until,
        lambda: fetch_read_model(db, "SELECT position FROM relay_positions") == [(head,)],
        60,
        "the relay to publish everything",
        diagnostics=group.logs,
    )
    relay.terminate()
    nc = await nats.connect(group.nats_url)
    try:
        js = nc.jetstream()
        await js.purge_stream("MODISTE_EVENTS")
        later = await asyncio.to_thread(
            container.catalog.adjust_stock, uuid.UUID(shared[0]), 2, "after the purge"
        )
        relay.start()

        async def stream_state() -> tuple[int, int]:
            state = (await js.stream_info("MODISTE_EVENTS")).state
            return state.messages, state.last_seq

        deadline = asyncio.get_running_loop().time() + 60
        while (await stream_state())[0] < 1:
            assert asyncio.get_running_loop().time() < deadline, group.logs()
            await asyncio.sleep(0.2)
        last = await js.get_msg("MODISTE_EVENTS", seq=(await stream_state())[1])
        assert last.headers is not None
        assert int(last.headers["Modiste-Position"]) == later.position
        assert await stream_state() == (1, head + 1)  # nothing purged came back
    finally:
        await nc.drain()
    assert not relay.log_contains("relay.stream_lost_events")


# -- duplicates and poison -----------------------------------------------------------------


async def test_the_same_event_delivered_twice_is_applied_once(
    container: Container, database_url: str, servers: RunningServers, pipeline: Any
) -> None:
    import asyncpg
    import nats

    from infrastructure.eventstore.log import EventLog
    from projections.catalog import CatalogProjector
    from projections.runner import ProjectionHandler, wait_for_position

    product = await asyncio.to_thread(
        container.catalog.list_product,
        ListProduct(
            title="Twice", description="", category="coats", brand="b", price=Money(9900, "EUR")
        ),
    )
    adjusted = await asyncio.to_thread(
        container.catalog.adjust_stock, product.aggregate.id, 4, "delivery"
    )
    pool = await asyncpg.create_pool(database_url, min_size=1, max_size=2)
    nc = await nats.connect(servers.nats_url)
    try:
        assert adjusted.position is not None
        assert await wait_for_position(pool, "catalog", adjusted.position, 30)
        js = nc.jetstream()
        original = await js.get_msg("MODISTE_EVENTS", seq=2)
        assert original.headers is not None
        assert original.headers["Nats-Msg-Id"] == f"{product.aggregate.id}:2"
        # The relay re-sending it after a crash: JetStream's de-duplication drops it.
        resent = await js.publish(original.subject, original.data or b"", headers=original.headers)
        assert resent.duplicate
        # Past the de-duplication window (a different message id): delivered again.
        again = await js.publish(
            original.subject,
            original.data or b"",
            headers={**original.headers, "Nats-Msg-Id": "replayed-by-hand"},
        )
        assert not again.duplicate
        # And straight into the handler, twice.
        [envelope] = [
            e for e in EventLog(container.catalog).iterate(0) if e.position == adjusted.position
        ]
        handler = ProjectionHandler(pool, CatalogProjector())
        await handler.handle(envelope)
        await handler.handle(envelope)

        later = await asyncio.to_thread(
            container.catalog.adjust_stock, product.aggregate.id, 1, "delivery"
        )
        assert later.position is not None
        assert await wait_for_position(pool, "catalog", later.position, 30)
        row = await pool.fetchrow(
            "SELECT on_hand, version FROM read.catalog_products WHERE product_id = $1",
            product.aggregate.id,
        )
        assert dict(row) == {"on_hand": 5, "version": 3}
        movements = await pool.fetchval(
            "SELECT count(*) FROM read.stock_movements WHERE product_id = $1", product.aggregate.id
        )
        assert movements == 2
        applied = await pool.fetchval(
            "SELECT events_applied FROM read.projection_positions WHERE name = 'catalog'"
        )
        assert applied == 3
    finally:
        await nc.drain()
        await pool.close()


async def test_a_poison_message_is_dead_lettered_and_the_consumer_goes_on(
    container: Container,
    database_url: str,
    servers: RunningServers,
    settings: Any,
    clean_streams: None,
) -> None:
    import asyncpg
    import msgspec
    import nats

    from infrastructure.eventstore.log import EventLog
    from infrastructure.messaging.codec import encode_envelope
    from projections.runner import wait_for_position
    from tests.conftest import BackgroundPipeline

    running = BackgroundPipeline(
        replace(settings, consumer_max_deliver=2), database_url, servers.nats_url
    )
    pool = await asyncpg.create_pool(database_url, min_size=1, max_size=2)
    nc = await nats.connect(servers.nats_url)
    try:
        first = await asyncio.to_thread(
            container.catalog.list_product,
            ListProduct(
                title="Before", description="", category="coats", brand="b", price=Money(100, "EUR")
            ),
        )
        assert first.position is not None
        assert await wait_for_position(pool, "catalog", first.position, 60)
        js = nc.jetstream()
        # Not an envelope at all.
        await js.publish(
            "modiste.events.catalog.Garbage", b"\x00 not json", headers={"Nats-Msg-Id": "garbage-1"}
        )
        # A well-formed envelope the catalog projector cannot apply (no title).
        [listed] = list(EventLog(container.catalog).iterate(0))
        broken = msgspec.structs.replace(
            listed,
            aggregate_id=str(uuid.uuid4()),
            data={k: v for k, v in listed.data.items() if k != "title"},
        )
        await js.publish(
            broken.subject,
            encode_envelope(broken),
            headers={"Nats-Msg-Id": f"{broken.aggregate_id}:1"},
        )
        after = await asyncio.to_thread(
            container.catalog.list_product,
            ListProduct(
                title="After", description="", category="coats", brand="b", price=Money(200, "EUR")
            ),
        )
        assert after.position is not None
        assert await wait_for_position(pool, "catalog", after.position, 60)
        assert (
            await pool.fetchval(
                "SELECT title FROM read.catalog_products WHERE product_id = $1", after.aggregate.id
            )
            == "After"
        )

        def dead_letters() -> list[tuple[Any, ...]]:
            return fetch(
                database_url,
                "SELECT event_type, aggregate_id, error FROM read.dead_letters "
                "WHERE consumer = 'projection-catalog' ORDER BY id",
            )

        rows = await asyncio.to_thread(
            wait_until, lambda: len(dead_letters()) >= 2 and dead_letters(), 60, "2 dead letters"
        )
        assert [(r[0], r[1]) for r in rows] == [
            (None, None),
            ("ProductListed", broken.aggregate_id),
        ]
        assert "undecodable" in rows[0][2] and "KeyError" in rows[1][2]
        assert (
            await pool.fetchval(
                "SELECT count(*) FROM read.catalog_products WHERE product_id = $1",
                broken.aggregate_id,
            )
            == 0
        )
        dlq = await js.stream_info(
            "MODISTE_EVENTS_DLQ", subjects_filter="modiste.dlq.projection-catalog"
        )
        assert dlq.state.subjects == {"modiste.dlq.projection-catalog": 2}

        def alerts() -> list[tuple[Any, ...]]:
            return fetch(
                database_url, "SELECT state FROM modiste_events WHERE topic LIKE '%%OpsAlertRaised'"
            )

        raised = await asyncio.to_thread(wait_until, alerts, 30, "an OpsAlertRaised event")
        assert any(b"dead-lettered" in bytes(state) for (state,) in raised)
        assert await pool.fetchval(
            "SELECT last_error FROM read.projection_positions WHERE name = 'catalog'"
        )
    finally:
        await nc.drain()
        await pool.close()
        running.stop()


# -- operator commands ---------------------------------------------------------------------


def status_rows(output: str) -> dict[str, list[str]]:
    """`modiste projections status` table rows by read model name."""
    rows = {}
    for line in output.splitlines():
        cells = [c.strip() for c in line.replace("┃", "│").split("│")]
        if len(cells) > 4 and cells[1] and cells[1] != "name":
            rows[cells[1]] = cells[1:-1]
    return rows


def test_rebuild_command_matches_the_live_read_model_and_status_shows_no_lag(
    group: ProcessGroup, container: Container
) -> None:
    db = group.database_url
    group.relay()
    group.worker("projections")
    write_commands(container, WriterPlan(products=40, adjustments=200, orders=20, listing_batch=8))
    wait_caught_up(group)
    live = read_model_snapshot(db, ("catalog",))

    rebuilt = group.modiste("projections", "rebuild", "catalog")
    assert rebuilt.returncode == 0, rebuilt.stderr
    assert "catalog:" in rebuilt.stdout and "events/s" in rebuilt.stdout
    assert read_model_snapshot(db, ("catalog",)) == live

    status = group.modiste("projections", "status")
    assert status.returncode == 0, status.stderr
    rows = status_rows(status.stdout)
    head = str(event_store_head(db))
    _, position, shown_head, lag_events, lag_seconds = rows["catalog"][:5]
    assert (position, shown_head, lag_events, lag_seconds) == (head, head, "0", "0.0"), (
        status.stdout
    )
    assert rows["orders"][1:4] == [head, head, "0"], status.stdout

    # The live consumer carries on from the rebuilt position on the swapped-in tables.
    container.catalog.adjust_stock(
        uuid.UUID(fetch(db, "SELECT product_id::text FROM read.catalog_products LIMIT 1")[0][0]),
        7,
        "after the rebuild",
    )
    wait_caught_up(group)
    group.stop_all()
    assert_complete(group)
    assert_equals_rebuild(db)
