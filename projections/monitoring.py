"""Snapshots of the running pipeline, read where the truth is.

- the event store head: the highest notification id in ``modiste_events``;
- each read model's lag: events in the store after its position
  (``read.projection_positions``), and the age of the oldest of them;
- every other durable consumer's lag: JetStream's pending plus unacknowledged messages;
- dead letters per consumer (``read.dead_letters``);
- the relay's position (``relay_positions``) and the events it has yet to publish;
- disk usage of the file system holding the data directory.

The OpsAgent (through its SystemProbe port), ``/api/system/health`` and ``/metrics`` all
read the same snapshot. A part that cannot be read (NATS down, a table not created yet)
is left out rather than failing the whole snapshot.
"""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import structlog
from nats.js import JetStreamContext

from domain.ops.health import ConsumerLag, SystemSnapshot
from infrastructure.eventstore.log import EventLog
from projections.schema import READ_SCHEMA

log = structlog.get_logger(__name__)

LAG_COUNT_CAP = 1_000_000
"""Lag counts stop here, so a far-behind consumer costs a bounded index scan."""
RELAY_POSITION_NAME = "jetstream"
JETSTREAM_TIMEOUT = 2.0


def read_model_consumer(read_model: str) -> str:
    """The durable consumer name of a read model's projector."""
    return f"projection-{read_model}"


def disk_usage(path: Path) -> tuple[float, int]:
    """(used ratio, free bytes) of the file system holding ``path`` (or its nearest parent)."""
    probe = path
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    usage = shutil.disk_usage(probe)
    return round(usage.used / usage.total, 4) if usage.total else 0.0, int(usage.free)


class SystemMonitor:
    """Takes a SystemSnapshot (implements the OpsAgent's SystemProbe port)."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        *,
        read_models: Sequence[str],
        data_dir: Path,
        js: JetStreamContext | None = None,
        stream: str = "MODISTE_EVENTS",
        event_log: EventLog | None = None,
    ) -> None:
        self.pool = pool
        self.read_models = list(read_models)
        self.data_dir = data_dir
        self.js = js
        self.stream = stream
        self.event_log = event_log

    async def head(self) -> int:
        """The event store's highest notification id (0 when empty)."""
        try:
            value = await self.pool.fetchval("SELECT max(notification_id) FROM modiste_events")
        except asyncpg.UndefinedTableError:
            return 0
        return int(value or 0)

    async def events_after(self, position: int) -> int:
        """How many events the store holds after ``position`` (capped at LAG_COUNT_CAP)."""
        try:
            value = await self.pool.fetchval(
                "SELECT count(*) FROM (SELECT 1 FROM modiste_events "
                "WHERE notification_id > $1 LIMIT $2) AS pending",
                position,
                LAG_COUNT_CAP,
            )
        except asyncpg.UndefinedTableError:
            return 0
        return int(value or 0)

    async def _age_of_first_after(self, position: int) -> float | None:
        if self.event_log is None:
            return None
        batch = await asyncio.to_thread(self.event_log.read, position, 1)
        if not batch:
            return 0.0
        return round(max(0.0, (datetime.now(UTC) - batch[0].occurred_at).total_seconds()), 3)

    async def read_model_lags(self) -> list[ConsumerLag]:
        try:
            rows = await self.pool.fetch(
                f"SELECT name, position FROM {READ_SCHEMA}.projection_positions "
                "WHERE name = ANY($1::text[])",
                self.read_models,
            )
        except asyncpg.UndefinedTableError:
            rows = []
        positions = {row["name"]: int(row["position"]) for row in rows}
        lags = []
        for name in self.read_models:
            position = positions.get(name, 0)
            behind = await self.events_after(position)
            lags.append(
                ConsumerLag(
                    consumer=read_model_consumer(name),
                    lag_events=behind,
                    lag_seconds=await self._age_of_first_after(position) if behind else 0.0,
                    position=position,
                    source="read_model",
                )
            )
        return lags

    async def jetstream_pending(self) -> dict[str, int]:
        """Durable consumer -> pending plus unacknowledged messages ({} if NATS can't say)."""
        if self.js is None:
            return {}
        try:
            infos = await asyncio.wait_for(self.js.consumers_info(self.stream), JETSTREAM_TIMEOUT)
        except Exception as exc:  # no stream yet, NATS down: report what the database knows
            log.debug("monitor.jetstream_unavailable", error=f"{type(exc).__name__}: {exc}")
            return {}
        return {
            str(info.name): int(info.num_pending or 0) + int(info.num_ack_pending or 0)
            for info in infos
        }

    async def dead_letters(self, consumers: Sequence[str]) -> dict[str, int]:
        """Dead letters per consumer: every named consumer (0 if none) and any other with some."""
        counts = dict.fromkeys(consumers, 0)
        try:
            rows = await self.pool.fetch(
                f"SELECT consumer, count(*) AS n FROM {READ_SCHEMA}.dead_letters GROUP BY consumer"
            )
        except asyncpg.UndefinedTableError:
            rows = []
        counts.update({row["consumer"]: int(row["n"]) for row in rows})
        return counts

    async def relay_position(self) -> int | None:
        """The relay's last acknowledged position; None if no relay ever ran here."""
        try:
            value = await self.pool.fetchval(
                "SELECT position FROM relay_positions WHERE name = $1", RELAY_POSITION_NAME
            )
        except asyncpg.UndefinedTableError:
            return None
        return int(value) if value is not None else 0

    async def snapshot(self) -> SystemSnapshot:
        head = await self.head()
        consumers = {lag.consumer: lag for lag in await self.read_model_lags()}
        for durable, pending in (await self.jetstream_pending()).items():
            if durable in consumers:
                consumers[durable] = replace(consumers[durable], pending_messages=pending)
            else:
                consumers[durable] = ConsumerLag(
                    consumer=durable,
                    lag_events=pending,
                    pending_messages=pending,
                    source="jetstream",
                )
        relay = await self.relay_position()
        used, free = await asyncio.to_thread(disk_usage, self.data_dir)
        return SystemSnapshot(
            head=head,
            relay_position=relay,
            relay_lag_events=await self.events_after(relay) if relay is not None else None,
            consumers=tuple(sorted(consumers.values(), key=lambda lag: lag.consumer)),
            dead_letters=await self.dead_letters(sorted(consumers)),
            disk_used_ratio=used,
            disk_free_bytes=free,
        )
