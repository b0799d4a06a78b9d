"""What the OpsAgent looks at and how it judges it: pure values and rules, no I/O.

A SystemSnapshot is taken by an adapter (read model positions against the event store
head, JetStream pending counts, dead letters, the relay's position, disk usage); ``evaluate``
turns it into one Finding per (alert kind, subject): breached, clear, or in between (hold).
The gap between the raise and the resolve level keeps an alert from flapping when a value
hovers around its threshold.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

CONSUMER_LAG = "consumer_lag"
RELAY_LAG = "relay_lag"
DEAD_LETTER = "dead_letter"
DISK = "disk"

RELAY_SUBJECT = "relay"
DISK_SUBJECT = "data_dir"

CRITICAL_FACTOR = 10
"""A lag above ten times its threshold is critical, not just a warning."""
RESOLVE_FACTOR = 0.5
"""A lag alert resolves once the lag is at or below half its threshold."""
DISK_CRITICAL_RATIO = 0.97
DISK_RESOLVE_MARGIN = 0.02
"""A disk alert resolves once usage is this far below its threshold."""

FindingState = Literal["breached", "clear", "hold"]


@dataclass(frozen=True)
class ConsumerLag:
    """How far one consumer is behind.

    ``lag_events`` counts events it has yet to apply: for a read model, events in the store
    after its position; for other consumers, JetStream's pending plus unacknowledged
    messages. ``lag_seconds`` is the age of the oldest unapplied event, where known.
    """

    consumer: str
    lag_events: int
    lag_seconds: float | None = None
    position: int | None = None
    pending_messages: int | None = None
    source: Literal["read_model", "jetstream"] = "read_model"


@dataclass(frozen=True)
class SystemSnapshot:
    """The state of the pipeline at one moment."""

    head: int
    relay_position: int | None
    relay_lag_events: int | None
    consumers: tuple[ConsumerLag, ...]
    dead_letters: Mapping[str, int] = field(default_factory=dict)
    disk_used_ratio: float | None = None
    disk_free_bytes: int | None = None


@dataclass(frozen=True)
class OpsThresholds:
    """Raise levels (resolve levels follow from them, see the module doc)."""

    consumer_lag_events: int = 1000
    consumer_lag_seconds: float = 60.0
    relay_lag_events: int = 1000
    dead_letters: int = 0
    disk_used_ratio: float = 0.90


@dataclass(frozen=True)
class Finding:
    """The verdict on one alert subject. ``value`` is the measured number."""

    kind: str
    subject: str
    state: FindingState
    severity: str
    detail: str
    value: float | None


def _lag(
    kind: str,
    subject: str,
    events: int,
    seconds: float | None,
    max_events: int,
    max_seconds: float | None,
) -> Finding:
    over_seconds = seconds is not None and max_seconds is not None and seconds > max_seconds
    age = f", oldest unapplied event {seconds:.0f}s old" if seconds else ""
    if events > max_events or over_seconds:
        critical = events > max_events * CRITICAL_FACTOR or (
            over_seconds
            and seconds is not None
            and max_seconds is not None
            and seconds > max_seconds * CRITICAL_FACTOR
        )
        limit = f"{max_events} events" + (f" / {max_seconds:g}s" if max_seconds else "")
        return Finding(
            kind,
            subject,
            "breached",
            "critical" if critical else "warning",
            f"{subject} is {events} events behind{age} (threshold {limit})",
            float(events),
        )
    calm = events <= max_events * RESOLVE_FACTOR and (
        seconds is None or max_seconds is None or seconds <= max_seconds * RESOLVE_FACTOR
    )
    return Finding(
        kind,
        subject,
        "clear" if calm else "hold",
        "info",
        f"{subject} caught up: {events} events behind{age}",
        float(events),
    )


def evaluate(snapshot: SystemSnapshot, thresholds: OpsThresholds) -> list[Finding]:
    """One finding per consumer (lag), per consumer with dead letters, the relay and disk."""
    findings = [
        _lag(
            CONSUMER_LAG,
            consumer.consumer,
            consumer.lag_events,
            consumer.lag_seconds,
            thresholds.consumer_lag_events,
            thresholds.consumer_lag_seconds,
        )
        for consumer in snapshot.consumers
    ]
    if snapshot.relay_lag_events is not None:
        findings.append(
            _lag(
                RELAY_LAG,
                RELAY_SUBJECT,
                snapshot.relay_lag_events,
                None,
                thresholds.relay_lag_events,
                None,
            )
        )
    for consumer, count in sorted(snapshot.dead_letters.items()):
        if count > thresholds.dead_letters:
            findings.append(
                Finding(
                    DEAD_LETTER,
                    consumer,
                    "breached",
                    "warning",
                    f"{consumer} has {count} dead-lettered events awaiting an operator",
                    float(count),
                )
            )
        else:
            findings.append(
                Finding(
                    DEAD_LETTER,
                    consumer,
                    "clear",
                    "info",
                    f"{consumer} has {count} dead-lettered events",
                    float(count),
                )
            )
    if snapshot.disk_used_ratio is not None:
        used = snapshot.disk_used_ratio
        free = f", {snapshot.disk_free_bytes} bytes free" if snapshot.disk_free_bytes else ""
        if used >= thresholds.disk_used_ratio:
            severity = (
                "critical"
                if used >= max(DISK_CRITICAL_RATIO, thresholds.disk_used_ratio)
                else "warning"
            )
            findings.append(
                Finding(
                    DISK,
                    DISK_SUBJECT,
                    "breached",
                    severity,
                    f"data directory disk {used:.0%} used{free} "
                    f"(threshold {thresholds.disk_used_ratio:.0%})",
                    used,
                )
            )
        else:
            calm = used <= thresholds.disk_used_ratio - DISK_RESOLVE_MARGIN
            findings.append(
                Finding(
                    DISK,
                    DISK_SUBJECT,
                    "clear" if calm else "hold",
                    "info",
                    f"data directory disk {used:.0%} used{free}",
                    used,
                )
            )
    return findings
