"""System endpoints: health of PostgreSQL, NATS and disk."""

from __future__ import annotations

import shutil
import time
from typing import Any

import asyncpg
from litestar import Controller, Response, get
from litestar.di import NamedDependency
from nats.aio.client import Client as NatsClient

from infrastructure.bootstrap import Container
from interfaces.http.schemas import DependencyHealth, HealthOut


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
        """Reachability of PostgreSQL and NATS, and free disk; 503 when any is down."""
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
        body = HealthOut(
            status="ok" if healthy else "degraded", dependencies=dependencies, disk=disk
        )
        return Response(body, status_code=200 if healthy else 503)
