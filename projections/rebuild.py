"""Operator tools: rebuild a read model into shadow tables and swap it in; report status.

A rebuild reads straight from the event store (not through NATS), so it needs nothing but
PostgreSQL. The API keeps reading the live tables until the swap, which happens in one
transaction under the projector's lock: the live consumer waits for it and then carries
on, its already-applied deliveries becoming no-ops by aggregate version.

Given the database URL, the bulk of a rebuild of a projector with ``pipelined_rebuild``
runs the projector's own statements through psycopg's pipeline mode (see
``projections.pipelined``) while the next batch is read and decoded: same statements, same
order, same rows, without a round trip per statement. The final catch-up and the swap stay
on asyncpg, in the transaction that holds the projector's lock.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, cast

import asyncpg
import psycopg

from infrastructure.eventstore.log import EventLog
from projections.base import SHADOW_SUFFIX, Projector
from projections.pipelined import PipelinedConnection
from projections.runner import apply_events, ensure_projection_tables, lock_key
from projections.schema import READ_SCHEMA

ProgressCallback = Callable[[int, int], None]
"""Called with (events read so far, total events to read)."""


@dataclass(frozen=True)
class RebuildResult:
    projector: str
    events: int
    position: int
    seconds: float

    @property
    def events_per_second(self) -> float:
        return self.events / self.seconds if self.seconds else 0.0


async def _drop_shadow(conn: asyncpg.Connection, projector: Projector) -> None:
    for table in projector.table_names(shadow=True).values():
        await conn.execute(f"DROP TABLE IF EXISTS {table}")
    tracking = projector.tracking_name(shadow=True)
    await conn.execute(
        f"DELETE FROM {READ_SCHEMA}.projection_versions WHERE projection = $1", tracking
    )
    await conn.execute(f"DELETE FROM {READ_SCHEMA}.projection_positions WHERE name = $1", tracking)


async def _copy_into_shadow(
    conn: asyncpg.Connection,
    projector: Projector,
    event_log: EventLog,
    after: int,
    batch_size: int,
    on_batch: Callable[[int], None],
    pipelined: psycopg.AsyncConnection[Any] | None = None,
) -> int:
    """Apply every event after ``after`` to the shadow tables; returns the last position.

    The next batch is read and decoded (in a thread) while this one is applied.
    """
    position = after
    batch = await asyncio.to_thread(event_log.read, position, batch_size)
    while batch:
        upcoming = asyncio.ensure_future(
            asyncio.to_thread(event_log.read, batch[-1].position, batch_size)
        )
        try:
            if pipelined is not None:
                async with pipelined.transaction(), pipelined.pipeline():
                    shadow_conn = cast(asyncpg.Connection, PipelinedConnection(pipelined))
                    await apply_events(shadow_conn, projector, batch, shadow=True)
            else:
                async with conn.transaction():
                    await apply_events(conn, projector, batch, shadow=True)
        except BaseException:
            upcoming.cancel()
            raise
        position = batch[-1].position
        on_batch(len(batch))
        batch = await upcoming
    return position


async def _swap(conn: asyncpg.Connection, projector: Projector, position: int) -> None:
    live_tables = projector.table_names()
    for logical, shadow in projector.table_names(shadow=True).items():
        live = live_tables[logical]
        bare = live.split(".", 1)[1]
        await conn.execute(f"DROP TABLE IF EXISTS {live}{SHADOW_SUFFIX}_old")
        await conn.execute(f"ALTER TABLE IF EXISTS {live} RENAME TO {bare}{SHADOW_SUFFIX}_old")
        await conn.execute(f"ALTER TABLE {shadow} RENAME TO {bare}")
        await conn.execute(f"DROP TABLE IF EXISTS {live}{SHADOW_SUFFIX}_old")
    name, shadow_name = projector.tracking_name(), projector.tracking_name(shadow=True)
    await conn.execute(f"DELETE FROM {READ_SCHEMA}.projection_versions WHERE projection = $1", name)
    await conn.execute(
        f"UPDATE {READ_SCHEMA}.projection_versions SET projection = $1 WHERE projection = $2",
        name,
        shadow_name,
    )
    await conn.execute(
        f"DELETE FROM {READ_SCHEMA}.projection_positions WHERE name = $1", shadow_name
    )
    await conn.execute(
        f"INSERT INTO {READ_SCHEMA}.projection_positions (name, position, rebuilt_at) "
        "VALUES ($1, $2, now()) ON CONFLICT (name) DO UPDATE SET position = $2, "
        "rebuilt_at = now(), last_error = NULL, last_error_at = NULL, updated_at = now()",
        name,
        position,
    )


async def rebuild_projection(
    pool: asyncpg.Pool,
    event_log: EventLog,
    projector: Projector,
    *,
    batch_size: int = 5000,
    progress: ProgressCallback | None = None,
    database_url: str | None = None,
) -> RebuildResult:
    """Rebuild ``projector`` from the event store into shadow tables, then swap atomically.

    With ``database_url``, a projector with ``pipelined_rebuild`` is bulk-applied through
    psycopg's pipeline mode on a connection of its own.
    """
    started = time.perf_counter()
    await ensure_projection_tables(pool, projector)
    total = await asyncio.to_thread(event_log.head)
    read = 0

    def on_batch(count: int) -> None:
        nonlocal read
        read += count
        if progress is not None:
            progress(read, max(total, read))

    async with pool.acquire() as conn:
        async with conn.transaction():
            await _drop_shadow(conn, projector)
            await projector.create_tables(conn, shadow=True)
        if database_url is not None and projector.pipelined_rebuild:
            async with await psycopg.AsyncConnection.connect(database_url) as pipelined:
                position = await _copy_into_shadow(
                    conn, projector, event_log, 0, batch_size, on_batch, pipelined
                )
        else:
            position = await _copy_into_shadow(conn, projector, event_log, 0, batch_size, on_batch)
        async with conn.transaction():
            # Hold the live consumer off while we take the last events and swap.
            await conn.execute("SELECT pg_advisory_xact_lock(hashtext($1))", lock_key(projector))
            position = await _copy_into_shadow(
                conn, projector, event_log, position, batch_size, on_batch
            )
            await _swap(conn, projector, position)
    return RebuildResult(projector.name, read, position, time.perf_counter() - started)


@dataclass(frozen=True)
class ProjectionStatus:
    name: str
    position: int
    head: int
    lag_events: int
    lag_seconds: float
    events_applied: int
    last_error: str | None
    dead_letters: int
    rebuilt_at: datetime | None


async def projection_status(
    pool: asyncpg.Pool, event_log: EventLog, projectors: list[Projector]
) -> list[ProjectionStatus]:
    """Position, head, lag (events and seconds), last error and dead letters per projector."""
    head = await asyncio.to_thread(event_log.head)
    statuses = []
    for projector in projectors:
        row = await pool.fetchrow(
            f"SELECT position, events_applied, last_error, rebuilt_at "
            f"FROM {READ_SCHEMA}.projection_positions WHERE name = $1",
            projector.name,
        )
        position = int(row["position"]) if row else 0
        lag_events = int(
            await pool.fetchval(
                "SELECT count(*) FROM modiste_events WHERE notification_id > $1", position
            )
            or 0
        )
        lag_seconds = 0.0
        if lag_events:
            [first] = await asyncio.to_thread(event_log.read, position, 1)
            lag_seconds = max(0.0, (datetime.now(UTC) - first.occurred_at).total_seconds())
        dead = int(
            await pool.fetchval(
                f"SELECT count(*) FROM {READ_SCHEMA}.dead_letters WHERE consumer = $1",
                f"projection-{projector.name}",
            )
            or 0
        )
        statuses.append(
            ProjectionStatus(
                name=projector.name,
                position=position,
                head=head,
                lag_events=lag_events,
                lag_seconds=round(lag_seconds, 3),
                events_applied=int(row["events_applied"]) if row else 0,
                last_error=row["last_error"] if row else None,
                dead_letters=dead,
                rebuilt_at=row["rebuilt_at"] if row else None,
            )
        )
    return statuses
