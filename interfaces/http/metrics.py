"""Prometheus metrics: HTTP latency and errors plus the pipeline's state.

Request metrics are per process, counted by an ASGI middleware that sits outside JWT auth,
so a 401 or 403 is counted under its own status. (Litestar's PrometheusMiddleware counts
a request that ends in an exception raised by another middleware, such as auth's 401,
as a 200, because no response has been sent when its bookkeeping runs.)

The pipeline metrics (lag per consumer, dead letters, event store head, relay position,
disk, active alerts) describe the whole system; each scrape reads them fresh from a
SystemSnapshot, so every API replica reports the same values and no background task has
to keep gauges up to date.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from litestar.config.app import AppConfig
from litestar.enums import ScopeType
from litestar.exceptions import HTTPException
from litestar.types import ASGIApp, Message, Receive, Scope, Send
from prometheus_client import (
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from domain.ops.health import SystemSnapshot

HTTP_LABELS = ("method", "path", "status_code")
_http_metrics: dict[str, Any] = {}


def _request_metrics() -> tuple[Counter, Histogram, Counter]:
    """The process's HTTP metrics, registered once however many apps the process builds."""
    if not _http_metrics:
        _http_metrics["requests"] = Counter(
            "modiste_http_requests_total", "HTTP requests by route and status", HTTP_LABELS
        )
        _http_metrics["latency"] = Histogram(
            "modiste_http_request_duration_seconds",
            "HTTP request latency by route and status, in seconds",
            HTTP_LABELS,
        )
        _http_metrics["errors"] = Counter(
            "modiste_http_requests_error_total", "HTTP requests answered with a 5xx", HTTP_LABELS
        )
    return _http_metrics["requests"], _http_metrics["latency"], _http_metrics["errors"]


def http_metrics_middleware(app: ASGIApp) -> ASGIApp:
    """Count and time each request by method, route template (not raw path) and status."""
    requests, latency, errors = _request_metrics()

    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP or scope["path"].startswith("/metrics"):
            await app(scope, receive, send)
            return
        started = time.perf_counter()
        status = {"code": 500}

        async def capture(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
            await send(message)

        try:
            await app(scope, receive, capture)
        except HTTPException as exc:  # raised by a middleware (auth): answered further out
            status["code"] = exc.status_code
            raise
        finally:
            labels = (
                scope.get("method", ""),
                scope.get("path_template") or "unmatched",
                str(status["code"]),
            )
            requests.labels(*labels).inc()
            latency.labels(*labels).observe(time.perf_counter() - started)
            if status["code"] >= 500:
                errors.labels(*labels).inc()

    return middleware


def metrics_outside_auth(app_config: AppConfig) -> AppConfig:
    """on_app_init hook: count every request, 401s and 403s included (outside JWT auth)."""
    app_config.middleware.insert(0, http_metrics_middleware)
    return app_config


class SnapshotCollector(Collector):
    """One scrape's view of the pipeline as gauges."""

    def __init__(
        self, snapshot: SystemSnapshot | None, active_alerts: Sequence[dict[str, Any]]
    ) -> None:
        self.snapshot = snapshot
        self.active_alerts = active_alerts

    def collect(self) -> Iterable[Metric]:
        return list(self._metrics())

    def _metrics(self) -> Iterator[Metric]:
        up = GaugeMetricFamily(
            "modiste_monitor_up", "1 if the pipeline snapshot could be taken for this scrape"
        )
        up.add_metric([], 1.0 if self.snapshot is not None else 0.0)
        yield up
        snapshot = self.snapshot
        if snapshot is None:
            return
        head = GaugeMetricFamily(
            "modiste_event_store_head", "Highest notification id in the event store"
        )
        head.add_metric([], snapshot.head)
        yield head
        if snapshot.relay_position is not None:
            relay = GaugeMetricFamily(
                "modiste_relay_position", "Last notification id the relay published to JetStream"
            )
            relay.add_metric([], snapshot.relay_position)
            yield relay
            relay_lag = GaugeMetricFamily(
                "modiste_relay_lag_events", "Events recorded but not yet published by the relay"
            )
            relay_lag.add_metric([], snapshot.relay_lag_events or 0)
            yield relay_lag
        lag = GaugeMetricFamily(
            "modiste_consumer_lag_events",
            "Events a consumer has yet to apply (read models: store events after its position; "
            "others: JetStream pending + unacknowledged)",
            labels=["consumer", "source"],
        )
        age = GaugeMetricFamily(
            "modiste_consumer_lag_seconds",
            "Age of the oldest event a read model has yet to apply",
            labels=["consumer"],
        )
        pending = GaugeMetricFamily(
            "modiste_consumer_pending_messages",
            "JetStream messages pending or unacknowledged for a durable consumer",
            labels=["consumer"],
        )
        for consumer in snapshot.consumers:
            lag.add_metric([consumer.consumer, consumer.source], consumer.lag_events)
            if consumer.lag_seconds is not None:
                age.add_metric([consumer.consumer], consumer.lag_seconds)
            if consumer.pending_messages is not None:
                pending.add_metric([consumer.consumer], consumer.pending_messages)
        yield from (lag, age, pending)
        dead = GaugeMetricFamily(
            "modiste_dead_letters",
            "Dead-lettered events kept for an operator, per consumer",
            labels=["consumer"],
        )
        for name, count in sorted(snapshot.dead_letters.items()):
            dead.add_metric([name], count)
        yield dead
        if snapshot.disk_used_ratio is not None:
            disk = GaugeMetricFamily(
                "modiste_disk_used_ratio", "Used share of the file system holding the data dir"
            )
            disk.add_metric([], snapshot.disk_used_ratio)
            yield disk
        if snapshot.disk_free_bytes is not None:
            free = GaugeMetricFamily(
                "modiste_disk_free_bytes", "Free bytes on the file system holding the data dir"
            )
            free.add_metric([], snapshot.disk_free_bytes)
            yield free
        alerts = GaugeMetricFamily(
            "modiste_ops_alerts_active", "Active ops alerts", labels=["kind", "severity"]
        )
        counts: dict[tuple[str, str], int] = {}
        for alert in self.active_alerts:
            key = (str(alert["kind"]), str(alert["severity"]))
            counts[key] = counts.get(key, 0) + 1
        for (kind, severity), count in sorted(counts.items()):
            alerts.add_metric([kind, severity], count)
        yield alerts


def render_metrics(
    snapshot: SystemSnapshot | None, active_alerts: Sequence[dict[str, Any]]
) -> bytes:
    """The process's metrics (multiprocess-aware) followed by the pipeline's, as text format."""
    registry: CollectorRegistry = REGISTRY
    if "prometheus_multiproc_dir" in os.environ or "PROMETHEUS_MULTIPROC_DIR" in os.environ:
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    pipeline = CollectorRegistry(auto_describe=False)
    pipeline.register(SnapshotCollector(snapshot, active_alerts))
    return generate_latest(registry) + generate_latest(pipeline)
