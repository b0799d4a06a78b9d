"""The OpsAgent's rules (pure) and its transitions, on an in-memory ops context."""

from __future__ import annotations

import asyncio
from dataclasses import replace

from application.agents.ops import OpsAgent
from application.base import CommandResult
from application.errors import NotFoundError
from domain.ops.aggregates import OpsAlert, alert_id
from domain.ops.health import (
    CONSUMER_LAG,
    DEAD_LETTER,
    DISK,
    RELAY_LAG,
    ConsumerLag,
    OpsThresholds,
    SystemSnapshot,
    evaluate,
)

THRESHOLDS = OpsThresholds(
    consumer_lag_events=100,
    consumer_lag_seconds=30,
    relay_lag_events=50,
    dead_letters=0,
    disk_used_ratio=0.9,
)


def snapshot(
    lag: int = 0, seconds: float = 0.0, relay: int = 0, dead: int = 0, disk: float = 0.5
) -> SystemSnapshot:
    return SystemSnapshot(
        head=1000,
        relay_position=1000 - relay,
        relay_lag_events=relay,
        consumers=(ConsumerLag("projection-catalog", lag, seconds, 1000 - lag),),
        dead_letters={"projection-catalog": dead},
        disk_used_ratio=disk,
        disk_free_bytes=10**9,
    )


def verdicts(s: SystemSnapshot) -> dict[str, tuple[str, str]]:
    return {f.kind: (f.state, f.severity) for f in evaluate(s, THRESHOLDS)}


def test_a_quiet_system_is_clear() -> None:
    assert set(verdicts(snapshot()).values()) == {("clear", "info")}


def test_lag_over_the_threshold_is_a_warning_and_ten_times_over_is_critical() -> None:
    assert verdicts(snapshot(lag=101))[CONSUMER_LAG] == ("breached", "warning")
    assert verdicts(snapshot(lag=1001))[CONSUMER_LAG] == ("breached", "critical")
    assert verdicts(snapshot(lag=3, seconds=31))[CONSUMER_LAG] == ("breached", "warning")


def test_lag_between_half_and_the_threshold_holds_the_current_state() -> None:
    assert verdicts(snapshot(lag=80))[CONSUMER_LAG] == ("hold", "info")
    assert verdicts(snapshot(lag=50))[CONSUMER_LAG] == ("clear", "info")


def test_relay_dead_letters_and_disk() -> None:
    found = verdicts(snapshot(relay=51, dead=1, disk=0.95))
    assert found[RELAY_LAG] == ("breached", "warning")
    assert found[DEAD_LETTER] == ("breached", "warning")
    assert found[DISK] == ("breached", "warning")
    assert verdicts(snapshot(disk=0.99))[DISK] == ("breached", "critical")
    assert verdicts(snapshot(disk=0.89))[DISK] == ("hold", "info")


class InMemoryOps:
    """The OpsApplication's interface over a dict of aggregates (a fake, not a mock)."""

    def __init__(self) -> None:
        self.alerts: dict[object, OpsAlert] = {}
        self.events: list[str] = []

    def get_alert(self, kind: str, subject: str) -> OpsAlert:
        try:
            return self.alerts[alert_id(kind, subject)]
        except KeyError:
            raise NotFoundError("opsalert", subject) from None

    def _change(self, kind: str, subject: str, change: object) -> CommandResult[OpsAlert]:
        alert = self.alerts.get(alert_id(kind, subject)) or OpsAlert.open(kind, subject)
        change(alert)  # type: ignore[operator]
        self.events += [type(e).__name__ for e in alert.collect_events()]
        self.alerts[alert.id] = alert
        return CommandResult(alert, len(self.events))

    def raise_alert(
        self, kind: str, subject: str, severity: str, detail: str, value: float | None = None
    ) -> CommandResult[OpsAlert]:
        return self._change(kind, subject, lambda a: a.raise_alert(severity, detail, value))

    def resolve_alert(self, kind: str, subject: str, detail: str) -> CommandResult[OpsAlert]:
        return self._change(kind, subject, lambda a: a.resolve(detail))


class FixedProbe:
    def __init__(self, value: SystemSnapshot) -> None:
        self.value = value

    async def snapshot(self) -> SystemSnapshot:
        return self.value


def test_only_transitions_are_recorded() -> None:
    ops = InMemoryOps()
    probe = FixedProbe(snapshot(lag=150))
    agent = OpsAgent(ops, probe, THRESHOLDS)  # type: ignore[arg-type]
    [raised] = asyncio.run(agent.check())
    assert (raised.kind, raised.change, raised.severity) == (CONSUMER_LAG, "raised", "warning")
    probe.value = snapshot(lag=170)  # still lagging: nothing new
    assert asyncio.run(agent.check()) == []
    probe.value = snapshot(lag=2000)  # worse: re-raised as critical
    [critical] = asyncio.run(agent.check())
    assert critical.severity == "critical"
    probe.value = snapshot(lag=70)  # hysteresis: not yet resolved
    assert asyncio.run(agent.check()) == []
    probe.value = snapshot(lag=0)
    [resolved] = asyncio.run(agent.check())
    assert resolved.change == "resolved"
    assert ops.events == ["OpsAlertOpened", "OpsAlertRaised", "OpsAlertRaised", "OpsAlertResolved"]


def test_a_dead_letter_alert_resolves_once_the_dead_letters_are_gone() -> None:
    ops = InMemoryOps()
    ops.raise_alert(DEAD_LETTER, "projection-catalog", "warning", "OrderPlaced dead-lettered")
    probe = FixedProbe(snapshot(dead=1))
    agent = OpsAgent(ops, probe, THRESHOLDS)  # type: ignore[arg-type]
    assert asyncio.run(agent.check()) == []  # already active with that severity
    probe.value = replace(snapshot(), dead_letters={"projection-catalog": 0})
    [resolved] = asyncio.run(agent.check())
    assert (resolved.kind, resolved.change) == (DEAD_LETTER, "resolved")
