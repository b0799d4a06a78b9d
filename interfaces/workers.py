"""Entry points of the background processes: the relay and the consumer worker groups."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass

import anyio.to_thread
import asyncpg
import nats
import structlog
from nats.js import JetStreamContext

from application.agents.base import Agent
from application.agents.registry import agent_handlers
from infrastructure.bootstrap import Container, bootstrap
from infrastructure.eventstore.log import EventLog
from infrastructure.messaging.codec import EventEnvelope
from infrastructure.messaging.consumer import ConsumerOptions, ConsumerRunner, EventHandler
from infrastructure.messaging.relay import Relay, RelayPositionStore
from infrastructure.messaging.stream import StreamSettings, ensure_streams
from infrastructure.messaging.subjects import context_events
from infrastructure.settings import Settings
from interfaces.monitoring import ops_agent, runs_ops_agent
from interfaces.partners.publisher import partner_publisher
from projections.registry import all_projectors
from projections.runner import ProjectionHandler, ensure_projection_tables
from projections.schema import READ_SCHEMA, create_bookkeeping

log = structlog.get_logger(__name__)

GROUPS = ("projections", "agents", "partners")


def stream_settings(settings: Settings) -> StreamSettings:
    return StreamSettings(
        name=settings.stream_name,
        replicas=settings.stream_replicas,
        storage=settings.stream_storage,
        max_age_days=settings.stream_max_age_days,
        duplicate_window_seconds=settings.stream_duplicate_window_seconds,
    )


def consumer_options(settings: Settings) -> ConsumerOptions:
    return ConsumerOptions(max_deliver=settings.consumer_max_deliver)


class AgentHandler:
    """An application-layer Agent as a consumer handler, on its contexts' subjects."""

    def __init__(self, agent: Agent) -> None:
        self.agent = agent
        self.name = agent.name
        self.subjects = [context_events(context) for context in agent.contexts]

    async def handle_batch(self, envelopes: Sequence[EventEnvelope]) -> None:
        await self.agent.handle_batch(envelopes)

    async def handle(self, envelope: EventEnvelope) -> None:
        await self.agent.handle(envelope)


@dataclass
class DeadLetterReporter:
    """Keeps every dead letter in ``read.dead_letters`` and raises an ops alert for it."""

    pool: asyncpg.Pool
    container: Container

    async def __call__(
        self, consumer: str, envelope: EventEnvelope | None, payload: bytes, error: str
    ) -> None:
        await self.pool.execute(
            f"INSERT INTO {READ_SCHEMA}.dead_letters "
            "(consumer, position, event_type, aggregate_id, error, payload) "
            "VALUES ($1, $2, $3, $4, $5, $6)",
            consumer,
            envelope.position if envelope else None,
            envelope.type if envelope else None,
            envelope.aggregate_id if envelope else None,
            error[:2000],
            payload,
        )
        detail = f"{envelope.type if envelope else 'message'} dead-lettered: {error[:300]}"
        await anyio.to_thread.run_sync(
            lambda: self.container.ops.raise_alert("dead_letter", consumer, "warning", detail)
        )


def handlers_for(
    group: str,
    pool: asyncpg.Pool,
    container: Container,
    only: Sequence[str] = (),
    js: JetStreamContext | None = None,
) -> list[EventHandler]:
    """The handlers a worker group runs (optionally only the named ones)."""
    if group == "projections":
        handlers: list[EventHandler] = [
            ProjectionHandler(pool, projector, EventLog(container.catalog))
            for projector in all_projectors().values()
        ]
    elif group == "agents":
        handlers = [AgentHandler(agent) for agent in agent_handlers(container)]
    elif group == "partners":
        if js is None:
            raise ValueError("the partners group publishes to NATS: pass a JetStream context")
        handlers = [partner_publisher(js, container)]
    else:
        raise ValueError(f"unknown worker group {group!r}; expected one of {GROUPS}")
    if only:
        handlers = [h for h in handlers if h.name in only or h.name.split("-", 1)[-1] in only]
    return handlers


async def run_worker(
    group: str,
    settings: Settings,
    database_url: str,
    nats_url: str,
    stop: asyncio.Event,
    *,
    only: Sequence[str] = (),
) -> None:
    """Run every consumer of ``group`` until ``stop`` is set, then finish, ack and drain."""
    container = await anyio.to_thread.run_sync(bootstrap, settings, database_url)
    pool = await asyncpg.create_pool(database_url, min_size=1, max_size=8)
    nc = await nats.connect(
        nats_url, name=f"modiste-worker-{group}", max_reconnect_attempts=-1, reconnect_time_wait=0.5
    )
    try:
        js = nc.jetstream()
        await ensure_streams(js, stream_settings(settings))
        await create_bookkeeping(pool)
        for projector in all_projectors().values():
            await ensure_projection_tables(pool, projector)
        handlers = handlers_for(group, pool, container, only, js=js)
        reporter = DeadLetterReporter(pool, container)
        runners = [
            ConsumerRunner(
                js,
                settings.stream_name,
                handler,
                consumer_options(settings),
                on_dead_letter=reporter,
            )
            for handler in handlers
        ]
        tasks = [runner.run(stop) for runner in runners]
        if group == "agents" and runs_ops_agent(only):
            # The OpsAgent is timer-driven: it runs beside the consumers, not as one.
            agent = ops_agent(container, pool, js)
            tasks.append(agent.run(stop, settings.ops.check_interval_seconds))
        log.info("worker.started", group=group, consumers=[h.name for h in handlers])
        await asyncio.gather(*tasks)
    finally:
        await nc.drain()
        await pool.close()
        await anyio.to_thread.run_sync(container.close)
        log.info("worker.stopped", group=group)


async def run_relay(
    settings: Settings, database_url: str, nats_url: str, stop: asyncio.Event
) -> None:
    """Run the relay until ``stop`` is set."""
    container = await anyio.to_thread.run_sync(bootstrap, settings, database_url)
    pool = await asyncpg.create_pool(database_url, min_size=1, max_size=2)
    try:
        relay = Relay(
            EventLog(container.catalog),
            RelayPositionStore(pool),
            nats_url,
            stream_settings(settings),
        )
        await relay.run(stop)
    finally:
        await pool.close()
        await anyio.to_thread.run_sync(container.close)
