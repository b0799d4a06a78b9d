"""Ops use cases: raise and resolve alerts (called by the consumer runtime and the OpsAgent)."""

from __future__ import annotations

from collections.abc import Callable

from application.base import CommandResult, ModisteApplication, last_position, retry_on_conflict
from application.errors import NotFoundError
from domain.ops.aggregates import OpsAlert, alert_id


class OpsApplication(ModisteApplication):
    """The ops context's façade."""

    def raise_alert(
        self, kind: str, subject: str, severity: str, detail: str, value: float | None = None
    ) -> CommandResult[OpsAlert]:
        return retry_on_conflict(
            lambda: self._change(kind, subject, lambda a: a.raise_alert(severity, detail, value))
        )

    def resolve_alert(self, kind: str, subject: str, detail: str) -> CommandResult[OpsAlert]:
        return retry_on_conflict(lambda: self._change(kind, subject, lambda a: a.resolve(detail)))

    def get_alert(self, kind: str, subject: str) -> OpsAlert:
        return self.load(alert_id(kind, subject), OpsAlert)

    def _change(
        self, kind: str, subject: str, change: Callable[[OpsAlert], None]
    ) -> CommandResult[OpsAlert]:
        try:
            alert = self.load(alert_id(kind, subject), OpsAlert)
        except NotFoundError:
            alert = OpsAlert.open(kind, subject)
        change(alert)
        if not alert.pending_events:
            return CommandResult(alert, None)
        return CommandResult(alert, last_position(self.save(alert)))
