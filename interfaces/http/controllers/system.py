"""System endpoints: health of PostgreSQL, NATS, disk and the pipeline; ops alerts."""

from __future__ import annotations

import shutil
import time
from typing import Annotated, Any

import asyncpg
import structlog
from litestar import Controller, Response, get
from litestar.di import NamedDependency
from litestar.params import QueryParameter
from nats.aio.client import Client as NatsClient

from domain.ops.health import SystemSnapshot
from infrastructure.bootstrap import Container
from interfaces.http.auth import requires_role
from interfaces.http.context import caught_up
from interfaces.http.schemas import (
    AlertList,
    AlertOut,
    AlertSummary,
    ConsumerHealth,
    DependencyHealth,
    HealthOut,
    RelayHealth,
)
from interfaces.monitoring import system_monitor
from projections.ops import list_alerts

log = structlog.get_logger(__name__)


async def _postgres_health(pool: asyncpg.Pool) -> DependencyHealth:
    started = time.perf_counter()
    try:
        async with pool.acquire(timeout=2) as conn:
            await conn.fetchval("SELECT 1", timeout=2)
    except Exception as exc:  # any failure means "down"; the detail says which
        return DependencyHealth(False, f"{type(exc).__name__}: {exc}")
    return DependencyHealth(True, "reachable", round((time.perf_counter() - started) * 1000, 2))


async def _nats_health(nc: NatsClient) -> DependencyHealth:
    if not nc.is_connected:
        return DependencyHealth(False, "not connected")
    started = time.perf_counter()
    try:
        await nc.flush(timeout=2)
    except Exception as exc:
        return DependencyHealth(False, f"{type(exc).__name__}: {exc}")
    return DependencyHealth(True, "reachable", round((time.perf_counter() - started) * 1000, 2))


def _iso(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


async def _pipeline(
    container: Container, pool: asyncpg.Pool, nc: NatsClient
) -> tuple[SystemSnapshot | None, list[dict[str, Any]]]:
    """The pipeline snapshot and active alerts, or (None, []) when they cannot be read."""
    try:
        js = nc.jetstream() if nc.is_connected else None
        snapshot = await system_monitor(container, pool, js).snapshot()
        return snapshot, await list_alerts(pool)
    except Exception as exc:  # health must answer even when the database does not
        log.warning("health.pipeline_unavailable", error=f"{type(exc).__name__}: {exc}")
        return None, []


def _consumers(snapshot: SystemSnapshot) -> dict[str, ConsumerHealth]:
    return {
        lag.consumer: ConsumerHealth(
            source=lag.source,
            lag_events=lag.lag_events,
            lag_seconds=lag.lag_seconds,
            position=lag.position,
            pending_messages=lag.pending_messages,
            dead_letters=snapshot.dead_letters.get(lag.consumer, 0),
        )
        for lag in snapshot.consumers
    }


class SystemController(Controller):
    path = "/api/system"
    tags = ["system"]

    @get("/health", operation_id="health", exclude_from_auth=True)
    async def health(
        self,
        container: NamedDependency[Container],
        db_pool: NamedDependency[asyncpg.Pool],
        nats: NamedDependency[NatsClient],
    ) -> Response[HealthOut]:
        """Reachability of PostgreSQL and NATS, free disk, and the pipeline's state.

        The pipeline part: lag per consumer (read models against the event store head,
        other consumers from JetStream), dead letters, the head, the relay's position and
        the active ops alerts. Only an unreachable dependency makes this a 503: a lagging
        read model is reported (and alerted on), not a reason to stop serving.
        """
        dependencies: dict[str, Any] = {
            "postgres": await _postgres_health(db_pool),
            "nats": await _nats_health(nats),
        }
        usage = shutil.disk_usage(
            container.settings.data_dir if container.settings.data_dir.exists() else "/"
        )
        disk = {
            "free_bytes": float(usage.free),
            "used_ratio": round(usage.used / usage.total, 4),
        }
        healthy = all(d.ok for d in dependencies.values())
        snapshot, alerts = await _pipeline(container, db_pool, nats) if healthy else (None, [])
        body = HealthOut(
            status="ok" if healthy else "degraded",
            dependencies=dependencies,
            disk=disk,
            consumers=_consumers(snapshot) if snapshot else {},
            event_store_head=snapshot.head if snapshot else None,
            relay=RelayHealth(
                position=snapshot.relay_position, lag_events=snapshot.relay_lag_events or 0
            )
            if snapshot and snapshot.relay_position is not None
            else None,
            dead_letters=sum(snapshot.dead_letters.values()) if snapshot else 0,
            alerts=[
                AlertSummary(
                    kind=a["kind"],
                    subject=a["subject"],
                    severity=a["severity"],
                    since=_iso(a["raised_at"]),
                    value=a["value"],
                )
                for a in alerts
            ],
        )
        return Response(body, status_code=200 if healthy else 503)

    @get("/alerts", operation_id="listAlerts", guards=[requires_role("operator")])
    async def alerts(
        self,
        db_pool: NamedDependency[asyncpg.Pool],
        container: NamedDependency[Container],
        active: Annotated[
            bool, QueryParameter(description="Only active alerts (false: every alert)")
        ] = True,
        limit: Annotated[int, QueryParameter(ge=1, le=500)] = 100,
        min_position: Annotated[int | None, QueryParameter(ge=0)] = None,
    ) -> AlertList:
        """Ops alerts with their detail, most recently changed first (the ops read model)."""
        position = await caught_up(
            db_pool, "ops", min_position, container.settings.read_wait_timeout_seconds
        )
        rows = await list_alerts(db_pool, active_only=active, limit=limit)
        return AlertList(
            items=[
                AlertOut(
                    id=row["alert_id"],
                    kind=row["kind"],
                    subject=row["subject"],
                    active=row["active"],
                    severity=row["severity"],
                    detail=row["detail"],
                    value=row["value"],
                    times_raised=row["times_raised"],
                    raised_at=_iso(row["raised_at"]),
                    resolved_at=_iso(row["resolved_at"]),
                    updated_at=row["updated_at"].isoformat(),
                )
                for row in rows
            ],
            position=position,
        )
