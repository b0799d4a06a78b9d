"""Wiring for the system's view of itself: the snapshot monitor and the timer-driven OpsAgent."""

from __future__ import annotations

from collections.abc import Sequence

import asyncpg
from nats.js import JetStreamContext

from application.agents.ops import NAME as OPS_AGENT_NAME
from application.agents.ops import OpsAgent
from domain.ops.health import OpsThresholds
from infrastructure.bootstrap import Container
from infrastructure.eventstore.log import EventLog
from infrastructure.settings import Settings
from projections.monitoring import SystemMonitor
from projections.registry import all_projectors


def system_monitor(
    container: Container, pool: asyncpg.Pool, js: JetStreamContext | None = None
) -> SystemMonitor:
    """A monitor over every read model, the relay, JetStream (if given) and the data dir."""
    return SystemMonitor(
        pool,
        read_models=list(all_projectors()),
        data_dir=container.settings.data_dir,
        js=js,
        stream=container.settings.stream_name,
        event_log=EventLog(container.catalog),
    )


def ops_thresholds(settings: Settings) -> OpsThresholds:
    ops = settings.ops
    return OpsThresholds(
        consumer_lag_events=ops.consumer_lag_events,
        consumer_lag_seconds=ops.consumer_lag_seconds,
        relay_lag_events=ops.relay_lag_events,
        dead_letters=ops.dead_letters,
        disk_used_ratio=ops.disk_used_ratio,
    )


def ops_agent(
    container: Container,
    pool: asyncpg.Pool,
    js: JetStreamContext | None = None,
    thresholds: OpsThresholds | None = None,
) -> OpsAgent:
    """The OpsAgent over ``container``'s ops context (thresholds from settings by default)."""
    return OpsAgent(
        container.ops,
        system_monitor(container, pool, js),
        thresholds or ops_thresholds(container.settings),
    )


def runs_ops_agent(only: Sequence[str]) -> bool:
    """Whether an agents worker started with ``--only`` names should run the OpsAgent."""
    return not only or OPS_AGENT_NAME in only or OPS_AGENT_NAME.split("-", 1)[-1] in only
