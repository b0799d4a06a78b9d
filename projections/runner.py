"""Apply events to a projector's tables exactly once, with its position, in one transaction.

Idempotency is per aggregate version: an event whose version is not above the one recorded
for its aggregate is a no-op, and one that skips a version first gets the versions it skipped
read straight from the event store (a worker that died holding them leaves them un-acked
until ack_wait; their successors must not bounce until they are dead-lettered), or is
retried later. So JetStream redeliveries, duplicate publishes after a relay restart, and the
hand-over after a rebuild all leave the read model exactly as one pass over the event store
would.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence

import asyncpg
import structlog
from eventsourcing.persistence import Notification

from infrastructure.eventstore.factory import EVENT_STORE_NAME
from infrastructure.eventstore.log import EventLog
from infrastructure.messaging.codec import EventEnvelope
from infrastructure.messaging.consumer import RetryLaterError
from projections.base import Projector
from projections.schema import READ_SCHEMA, create_bookkeeping

log = structlog.get_logger(__name__)


GapFiller = Callable[[asyncpg.Connection, str, int, int], Awaitable[list[EventEnvelope]]]
"""(conn, aggregate id, after version, before version) -> the events strictly between."""


def lock_key(projector: Projector) -> str:
    return f"modiste-projection:{projector.name}"


class EventStoreGapFiller:
    """Reads the versions a delivery skipped straight from the event store, in order."""

    def __init__(self, event_log: EventLog) -> None:
        self._log = event_log

    async def __call__(
        self, conn: asyncpg.Connection, aggregate_id: str, after: int, before: int
    ) -> list[EventEnvelope]:
        rows = await conn.fetch(
            "SELECT notification_id, originator_id, originator_version, topic, state "
            f"FROM {EVENT_STORE_NAME}_events WHERE originator_id = $1::uuid "
            "AND originator_version > $2 AND originator_version < $3 ORDER BY originator_version",
            aggregate_id,
            after,
            before,
        )
        return [
            self._log.envelope(
                Notification(
                    id=row["notification_id"],
                    originator_id=row["originator_id"],
                    originator_version=row["originator_version"],
                    topic=row["topic"],
                    state=bytes(row["state"]),
                )
            )
            for row in rows
        ]


async def apply_events(
    conn: asyncpg.Connection,
    projector: Projector,
    envelopes: Sequence[EventEnvelope],
    *,
    shadow: bool = False,
    fill_gap: GapFiller | None = None,
) -> int:
    """Apply ``envelopes`` inside the caller's transaction; returns how many were new."""
    if not envelopes:
        return 0
    tracking = projector.tracking_name(shadow=shadow)
    tables = projector.table_names(shadow=shadow)
    followed = [e for e in envelopes if projector.follows(e)]
    aggregate_ids = list({e.aggregate_id for e in followed})
    rows = await conn.fetch(
        f"SELECT aggregate_id, version FROM {READ_SCHEMA}.projection_versions "
        "WHERE projection = $1 AND aggregate_id = ANY($2::text[])",
        tracking,
        aggregate_ids,
    )
    versions = {row["aggregate_id"]: row["version"] for row in rows}
    changed: dict[str, int] = {}
    applied = 0
    for envelope in followed:
        current = versions.get(envelope.aggregate_id, 0)
        if envelope.aggregate_version <= current:
            continue
        if envelope.aggregate_version != current + 1:
            skipped = (
                await fill_gap(conn, envelope.aggregate_id, current, envelope.aggregate_version)
                if fill_gap is not None
                else []
            )
            if [e.aggregate_version for e in skipped] != list(
                range(current + 1, envelope.aggregate_version)
            ):
                raise RetryLaterError(
                    f"{envelope.type} v{envelope.aggregate_version} of {envelope.aggregate_id} "
                    f"arrived before v{current + 1}"
                )
            for earlier in skipped:
                await projector.apply(conn, earlier, tables)
            applied += len(skipped)
        await projector.apply(conn, envelope, tables)
        versions[envelope.aggregate_id] = envelope.aggregate_version
        changed[envelope.aggregate_id] = envelope.aggregate_version
        applied += 1
    if changed:
        await conn.executemany(
            f"INSERT INTO {READ_SCHEMA}.projection_versions (projection, aggregate_id, version) "
            "VALUES ($1, $2, $3) ON CONFLICT (projection, aggregate_id) "
            "DO UPDATE SET version = EXCLUDED.version",
            [(tracking, aggregate_id, version) for aggregate_id, version in changed.items()],
        )
    await conn.execute(
        f"INSERT INTO {READ_SCHEMA}.projection_positions (name, position, events_applied) "
        "VALUES ($1, $2, $3) ON CONFLICT (name) DO UPDATE SET "
        "position = GREATEST(projection_positions.position, EXCLUDED.position), "
        "events_applied = projection_positions.events_applied + EXCLUDED.events_applied, "
        "updated_at = now()",
        tracking,
        max(e.position for e in envelopes),
        applied,
    )
    return applied


async def ensure_projection_tables(pool: asyncpg.Pool, projector: Projector) -> None:
    """Create the bookkeeping tables and the projector's live tables if missing."""
    await create_bookkeeping(pool)
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock(hashtext($1))", lock_key(projector))
        await projector.create_tables(conn)


class ProjectionHandler:
    """Runs a projector as a JetStream consumer's handler (see ConsumerRunner)."""

    def __init__(
        self, pool: asyncpg.Pool, projector: Projector, event_log: EventLog | None = None
    ) -> None:
        self.pool = pool
        self.projector = projector
        self._fill_gap = EventStoreGapFiller(event_log) if event_log is not None else None
        self.name = f"projection-{projector.name}"
        self.subjects = projector.subjects

    async def handle_batch(self, envelopes: Sequence[EventEnvelope]) -> None:
        await self._apply(envelopes)

    async def handle(self, envelope: EventEnvelope) -> None:
        try:
            await self._apply([envelope])
        except RetryLaterError:
            raise
        except Exception as exc:
            await self._record_error(f"{type(exc).__name__}: {exc}")
            raise

    async def _apply(self, envelopes: Sequence[EventEnvelope]) -> None:
        async with self.pool.acquire() as conn, conn.transaction():
            # One writer per read model at a time: replicas and a rebuild's swap take turns.
            await conn.execute(
                "SELECT pg_advisory_xact_lock(hashtext($1))", lock_key(self.projector)
            )
            await apply_events(conn, self.projector, envelopes, fill_gap=self._fill_gap)

    async def _record_error(self, error: str) -> None:
        await self.pool.execute(
            f"INSERT INTO {READ_SCHEMA}.projection_positions (name, last_error, last_error_at) "
            "VALUES ($1, $2, now()) ON CONFLICT (name) DO UPDATE SET "
            "last_error = EXCLUDED.last_error, last_error_at = EXCLUDED.last_error_at",
            self.projector.name,
            error[:2000],
        )


async def projection_position(pool: asyncpg.Pool, name: str) -> int:
    """How far read model ``name`` has got (0 before its worker has ever run)."""
    try:
        value = await pool.fetchval(
            f"SELECT position FROM {READ_SCHEMA}.projection_positions WHERE name = $1", name
        )
    except asyncpg.UndefinedTableError:
        return 0
    return int(value or 0)


async def wait_for_position(
    pool: asyncpg.Pool, name: str, position: int, wait_seconds: float, poll: float = 0.02
) -> bool:
    """Wait (bounded) until read model ``name`` has applied ``position``; False on timeout."""
    deadline = asyncio.get_running_loop().time() + wait_seconds
    while True:
        if await projection_position(pool, name) >= position:
            return True
        if asyncio.get_running_loop().time() >= deadline:
            return False
        await asyncio.sleep(poll)
