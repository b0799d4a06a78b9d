"""Stopping the projection worker while writing: lag rises in health and the OpsAgent
raises an alert event; restarting it lets the lag fall and the alert resolve."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg
import nats
import psycopg

from application.catalog import ListProduct
from domain.ops.health import OpsThresholds
from domain.shared.money import Money
from infrastructure.bootstrap import Container
from infrastructure.settings import Settings
from interfaces.monitoring import ops_agent
from interfaces.workers import run_relay, run_worker
from tests.conftest import bearer
from tests.servers import RunningServers

OPERATOR = bearer("operator", "op-1")
CATALOG = "projection-catalog"


class Background:
    """One long-running coroutine (a relay, a worker group) on its own loop and thread,
    as the separate process it is in production; ``stop()`` stops just that one."""

    def __init__(self, main: Callable[[asyncio.Event], Awaitable[None]]) -> None:
        self._loop = asyncio.new_event_loop()
        self._stop = asyncio.Event()
        self.errors: list[BaseException] = []

        def run() -> None:
            async def guarded() -> None:
                self._stop = asyncio.Event()
                started.set()
                try:
                    await main(self._stop)
                except BaseException as exc:
                    self.errors.append(exc)

            self._loop.run_until_complete(guarded())

        started = threading.Event()
        self._thread = threading.Thread(target=run, daemon=True)
        self._thread.start()
        started.wait(10)

    def stop(self) -> None:
        self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(30)
        assert not self.errors, self.errors


async def eventually(probe: Callable[[], Awaitable[Any]], timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        result = await probe()
        if result:
            return result
        assert time.monotonic() < deadline, "timed out waiting"
        await asyncio.sleep(0.1)


def list_products(container: Container, count: int) -> None:
    for index in range(count):
        container.catalog.list_product(
            ListProduct(
                title=f"Shirt {index}",
                description="",
                category="shirts",
                brand="b",
                price=Money(3000, "EUR"),
            )
        )


def count_events(database_url: str, event_type: str) -> int:
    with psycopg.connect(database_url) as conn:
        [(count,)] = conn.execute(
            "SELECT count(*) FROM modiste_events WHERE topic LIKE %s", (f"%.{event_type}",)
        ).fetchall()
    return int(count)


async def test_a_stopped_projection_worker_shows_rising_lag_and_raises_an_alert(
    api: Any,
    container: Container,
    settings: Settings,
    database_url: str,
    servers: RunningServers,
    clean_streams: None,
) -> None:
    def projections() -> Background:
        return Background(
            lambda stop: run_worker("projections", settings, database_url, servers.nats_url, stop)
        )

    relay = Background(lambda stop: run_relay(settings, database_url, servers.nats_url, stop))
    worker = projections()
    pool = await asyncpg.create_pool(database_url, min_size=1, max_size=2)
    nc = await nats.connect(servers.nats_url)
    try:

        async def consumer(name: str) -> dict[str, Any] | None:
            health = (await api.get("/api/system/health")).json()
            found: dict[str, Any] | None = health["consumers"].get(name)
            return found

        list_products(container, 2)

        async def caught_up() -> bool:
            found = await consumer(CATALOG)
            return found is not None and found["lag_events"] == 0 and found["position"] > 0

        await eventually(caught_up)
        worker.stop()

        list_products(container, 3)
        first = await consumer(CATALOG)
        assert first is not None and first["lag_events"] == 3
        list_products(container, 4)
        health = (await api.get("/api/system/health")).json()
        assert health["status"] == "ok"  # lag is reported and alerted on, not a 503
        second = health["consumers"][CATALOG]
        assert second["lag_events"] == 7 > first["lag_events"]
        assert second["source"] == "read_model" and second["lag_seconds"] >= 0
        assert health["event_store_head"] >= second["position"] + 7

        # The relay still publishes: JetStream holds the same backlog for the consumer.
        async def pending() -> bool:
            found = await consumer(CATALOG)
            return found is not None and found["pending_messages"] == 7

        await eventually(pending)

        agent = ops_agent(
            container,
            pool,
            nc.jetstream(),
            # 7 behind is over 5; the alert events themselves add to the lag, but stay
            # below the critical level (ten times the threshold).
            OpsThresholds(
                consumer_lag_events=5,
                consumer_lag_seconds=3600,
                relay_lag_events=10**6,
                disk_used_ratio=0.999,
            ),
        )
        changes = await agent.check()
        raised = {(c.kind, c.subject) for c in changes if c.change == "raised"}
        assert ("consumer_lag", CATALOG) in raised
        assert count_events(database_url, "OpsAlertRaised") == len(raised)
        assert await agent.check() == []  # still lagging: nothing new is recorded

        # Restart the worker: the backlog drains, the alert shows in the ops read model...
        worker = projections()

        async def alert_visible() -> dict[str, Any] | None:
            health = (await api.get("/api/system/health")).json()
            lag = health["consumers"][CATALOG]["lag_events"]
            alerts = {(a["kind"], a["subject"]): a for a in health["alerts"]}
            return alerts.get(("consumer_lag", CATALOG)) if lag == 0 else None

        alert = await eventually(alert_visible)
        assert alert["severity"] == "warning" and alert["value"] == 7

        # ...and the next check resolves it.
        changes = await agent.check()
        assert ("consumer_lag", CATALOG, "resolved") in {
            (c.kind, c.subject, c.change) for c in changes
        }
        assert count_events(database_url, "OpsAlertResolved") >= 1

        async def resolved() -> dict[str, Any] | None:
            response = await api.get(
                "/api/system/alerts", headers=OPERATOR, params={"active": "false"}
            )
            assert response.status_code == 200, response.text
            items = {(a["kind"], a["subject"]): a for a in response.json()["items"]}
            found = items.get(("consumer_lag", CATALOG))
            return found if found and not found["active"] else None

        history = await eventually(resolved)
        assert history["times_raised"] == 1 and history["resolved_at"] is not None
        active = (await api.get("/api/system/alerts", headers=OPERATOR)).json()["items"]
        assert ("consumer_lag", CATALOG) not in {(a["kind"], a["subject"]) for a in active}
    finally:
        await nc.drain()
        await pool.close()
        worker.stop()
        relay.stop()
