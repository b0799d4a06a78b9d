"""OpsAgent: the health of the running system, recorded as OpsAlert events.

The other agents react to events; this one reacts to time. Every interval it takes a
SystemSnapshot through the SystemProbe port (consumer lag, dead letters, relay position,
disk usage of the data directory), judges it with the pure rules of ``domain.ops.health``
and records only the transitions through the OpsApplication: OpsAlertRaised when a subject
breaches its threshold (or its severity changes), OpsAlertResolved when it is clear again.
A steady state records nothing, so a quiet system writes no events.

It runs as a periodic task in the ``agents`` worker group. Two replicas may both see a
transition; the alert aggregate's guard and the retry on conflict make the second one a
no-op or, at worst, a re-raise with fresher detail.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass
from typing import Literal, Protocol

import anyio.to_thread
import structlog

from application.errors import NotFoundError
from application.ops import OpsApplication
from domain.ops.health import Finding, OpsThresholds, SystemSnapshot, evaluate
from domain.shared.metadata import EventMetadata, bound_metadata, new_correlation_id

log = structlog.get_logger(__name__)

NAME = "agent-ops"


class SystemProbe(Protocol):
    """Port: takes a snapshot of the pipeline (read side, JetStream, relay, disk)."""

    async def snapshot(self) -> SystemSnapshot: ...


@dataclass(frozen=True)
class AlertChange:
    """One transition the agent recorded."""

    kind: str
    subject: str
    change: Literal["raised", "resolved"]
    severity: str
    detail: str
    position: int | None


class OpsAgent:
    """Timer-driven: ``check()`` once, or ``run()`` every interval until stopped."""

    name = NAME

    def __init__(self, ops: OpsApplication, probe: SystemProbe, thresholds: OpsThresholds) -> None:
        self.ops = ops
        self.probe = probe
        self.thresholds = thresholds

    async def check(self) -> list[AlertChange]:
        """Take a snapshot and record the alert transitions it implies."""
        snapshot = await self.probe.snapshot()
        findings = evaluate(snapshot, self.thresholds)
        correlation_id = new_correlation_id()
        metadata = EventMetadata(
            correlation_id=correlation_id,
            causation_id=f"timer:{NAME}:{correlation_id}",
            actor=f"agent:{NAME}",
        )
        with bound_metadata(metadata):
            return await anyio.to_thread.run_sync(self.apply, findings)

    def apply(self, findings: list[Finding]) -> list[AlertChange]:
        """Record the transitions among ``findings`` (sync; runs in a worker thread)."""
        changes: list[AlertChange] = []
        for finding in findings:
            if finding.state == "hold":
                continue
            try:
                alert = self.ops.get_alert(finding.kind, finding.subject)
                active, severity = alert.is_active, alert.severity
            except NotFoundError:
                active, severity = False, "info"
            if finding.state == "breached" and (not active or severity != finding.severity):
                result = self.ops.raise_alert(
                    finding.kind, finding.subject, finding.severity, finding.detail, finding.value
                )
                changes.append(
                    AlertChange(
                        finding.kind,
                        finding.subject,
                        "raised",
                        finding.severity,
                        finding.detail,
                        result.position,
                    )
                )
            elif finding.state == "clear" and active:
                result = self.ops.resolve_alert(finding.kind, finding.subject, finding.detail)
                changes.append(
                    AlertChange(
                        finding.kind,
                        finding.subject,
                        "resolved",
                        "info",
                        finding.detail,
                        result.position,
                    )
                )
        return changes

    async def run(self, stop: asyncio.Event, interval: float) -> None:
        """Check every ``interval`` seconds until ``stop`` is set.

        A failed check is logged with its traceback and tried again next interval: the
        watchdog must outlive the outages it reports on.
        """
        log.info("ops_agent.started", interval=interval)
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), interval)
            if stop.is_set():
                break
            try:
                changes = await self.check()
            except Exception:
                log.exception("ops_agent.check_failed")
                continue
            for change in changes:
                level = "warning" if change.change == "raised" else "info"
                getattr(log, level)(
                    f"ops_alert.{change.change}",
                    kind=change.kind,
                    subject=change.subject,
                    severity=change.severity,
                    detail=change.detail,
                )
        log.info("ops_agent.stopped")
