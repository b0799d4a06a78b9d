"""Subject names on NATS. Internal events, dead letters and the public partner contract."""

from __future__ import annotations

EVENTS_PREFIX = "modiste.events"
ALL_EVENTS = f"{EVENTS_PREFIX}.>"
DLQ_PREFIX = "modiste.dlq"
PUBLIC_PREFIX = "modiste.public.v1"


def event_subject(context: str, event_type: str) -> str:
    """``modiste.events.<context>.<EventName>``."""
    return f"{EVENTS_PREFIX}.{context}.{event_type}"


def context_events(context: str) -> str:
    """Every internal event of one bounded context."""
    return f"{EVENTS_PREFIX}.{context}.>"


def dead_letter_subject(consumer: str) -> str:
    """``modiste.dlq.<consumer>``: where a consumer parks what it could not handle."""
    return f"{DLQ_PREFIX}.{consumer}"


class Headers:
    """Header names the relay sets on every internal event message."""

    MSG_ID = "Nats-Msg-Id"
    POSITION = "Modiste-Position"
    EVENT_TYPE = "Modiste-Event-Type"
    EVENT_VERSION = "Modiste-Event-Version"
    CORRELATION_ID = "Modiste-Correlation-Id"
    CAUSATION_ID = "Modiste-Causation-Id"
    ERROR = "Modiste-Error"
    CONSUMER = "Modiste-Consumer"
