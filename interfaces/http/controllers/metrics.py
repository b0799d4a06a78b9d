"""GET /metrics: Prometheus text format, no auth (scrapers carry no tokens)."""

from __future__ import annotations

from typing import Any

import asyncpg
import structlog
from litestar import Controller, Response, get
from litestar.di import NamedDependency
from nats.aio.client import Client as NatsClient
from prometheus_client import CONTENT_TYPE_LATEST

from domain.ops.health import SystemSnapshot
from infrastructure.bootstrap import Container
from interfaces.http.metrics import render_metrics
from interfaces.monitoring import system_monitor
from projections.ops import list_alerts

log = structlog.get_logger(__name__)


class MetricsController(Controller):
    path = "/metrics"
    tags = ["system"]

    @get("/", operation_id="metrics", exclude_from_auth=True, include_in_schema=False)
    async def metrics(
        self,
        container: NamedDependency[Container],
        db_pool: NamedDependency[asyncpg.Pool],
        nats: NamedDependency[NatsClient],
    ) -> Response[bytes]:
        """Request latency and error counts, consumer lag, dead letters, head, relay, disk."""
        snapshot: SystemSnapshot | None = None
        alerts: list[dict[str, Any]] = []
        try:
            js = nats.jetstream() if nats.is_connected else None
            snapshot = await system_monitor(container, db_pool, js).snapshot()
            alerts = await list_alerts(db_pool)
        except Exception as exc:  # a scrape still answers; modiste_monitor_up says 0
            log.warning("metrics.snapshot_failed", error=f"{type(exc).__name__}: {exc}")
        return Response(
            render_metrics(snapshot, alerts),
            media_type=CONTENT_TYPE_LATEST,
        )
