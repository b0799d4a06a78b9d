"""The ops context: alerts raised and resolved about the running system."""

from __future__ import annotations

import uuid
from typing import Any

from domain.shared.aggregate import ModisteAggregate

ALERT_KINDS = frozenset({"consumer_lag", "dead_letter", "disk", "model_load", "relay_lag"})
SEVERITIES = frozenset({"info", "warning", "critical"})
ALERT_NAMESPACE = uuid.UUID("0b8c8f8e-5d1c-4a3f-9f77-6c3f1c2d9e01")


def alert_id(kind: str, subject: str) -> uuid.UUID:
    """One alert stream per (kind, subject), e.g. ('consumer_lag', 'projection-catalog')."""
    return uuid.uuid5(ALERT_NAMESPACE, f"{kind}\x1f{subject}")


class OpsAlert(ModisteAggregate):
    """An alert about one subject; raised, resolved, raised again as things change."""

    class OpsAlertOpened(ModisteAggregate.Created):
        kind: str
        subject: str

    class OpsAlertRaised(ModisteAggregate.Event):
        severity: str
        detail: str
        value: float | None

        def apply(self, aggregate: Any) -> None:
            aggregate.is_active = True
            aggregate.severity = self.severity
            aggregate.detail = self.detail
            aggregate.times_raised += 1

    class OpsAlertResolved(ModisteAggregate.Event):
        detail: str

        def apply(self, aggregate: Any) -> None:
            aggregate.is_active = False
            aggregate.detail = self.detail

    def __init__(self, kind: str, subject: str) -> None:
        self.kind = kind
        self.subject = subject
        self.is_active = False
        self.severity = "info"
        self.detail = ""
        self.times_raised = 0

    @classmethod
    def open(cls, kind: str, subject: str) -> OpsAlert:
        if kind not in ALERT_KINDS:
            raise ValueError(f"unknown alert kind {kind!r}")
        alert: OpsAlert = cls._create(
            cls.OpsAlertOpened, id=alert_id(kind, subject), kind=kind, subject=subject
        )
        return alert

    def raise_alert(self, severity: str, detail: str, value: float | None = None) -> None:
        """Raise (or re-raise with new detail); repeated identical raises are no-ops."""
        if severity not in SEVERITIES:
            raise ValueError(f"unknown severity {severity!r}")
        if self.is_active and self.severity == severity and self.detail == detail:
            return
        self.trigger_event(self.OpsAlertRaised, severity=severity, detail=detail, value=value)

    def resolve(self, detail: str) -> None:
        """Resolve an active alert (no-op when it is not active)."""
        if self.is_active:
            self.trigger_event(self.OpsAlertResolved, detail=detail)
