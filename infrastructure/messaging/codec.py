"""The envelope every internal event travels in, and its JSON codec (msgspec).

Positions are notification ids of the event store: the relay stamps them, projectors
and agents record them, and rebuilds read the same numbers straight from PostgreSQL.
"""

from __future__ import annotations

import base64
import uuid
from datetime import datetime
from enum import Enum
from typing import Any

import msgspec
from eventsourcing.domain import DomainEventProtocol
from eventsourcing.utils import get_topic

from infrastructure.messaging.subjects import event_subject

STANDARD_FIELDS = frozenset(
    {
        "originator_id",
        "originator_version",
        "timestamp",
        "originator_topic",
        "event_id",
        "correlation_id",
        "causation_id",
        "actor",
    }
)
EVENT_SCHEMA_VERSION = 1


class EventEnvelope(msgspec.Struct, frozen=True, kw_only=True):
    """One recorded event with its position and metadata, as published on NATS."""

    position: int
    event_id: str
    type: str
    context: str
    schema_version: int = EVENT_SCHEMA_VERSION
    aggregate_type: str
    aggregate_id: str
    aggregate_version: int
    occurred_at: datetime
    correlation_id: str
    causation_id: str
    actor: str
    data: dict[str, Any]

    @property
    def subject(self) -> str:
        return event_subject(self.context, self.type)

    @property
    def msg_id(self) -> str:
        """The JetStream de-duplication id: one per aggregate version."""
        return f"{self.aggregate_id}:{self.aggregate_version}"


def context_of(event: DomainEventProtocol[Any]) -> tuple[str, str]:
    """(bounded context, aggregate type) from the event's nesting, e.g. ('catalog', 'Product')."""
    qualname = type(event).__qualname__
    module = type(event).__module__
    aggregate_type = qualname.split(".")[0]
    parts = module.split(".")
    context = parts[1] if len(parts) > 2 and parts[0] == "domain" else parts[-1]
    return context, aggregate_type


def _plain(value: Any) -> Any:
    """Event attribute -> JSON-friendly value (UUIDs and datetimes as strings, bytes base64)."""
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def envelope_of(event: DomainEventProtocol[Any], position: int) -> EventEnvelope:
    """Wrap a domain event read from the store at ``position``."""
    attributes = event.__dict__
    context, aggregate_type = context_of(event)
    return EventEnvelope(
        position=position,
        event_id=str(
            attributes.get("event_id") or f"{event.originator_id}:{event.originator_version}"
        ),
        type=type(event).__name__,
        context=context,
        aggregate_type=aggregate_type,
        aggregate_id=str(event.originator_id),
        aggregate_version=event.originator_version,
        occurred_at=attributes["timestamp"],
        correlation_id=str(attributes.get("correlation_id", "")),
        causation_id=str(attributes.get("causation_id", "")),
        actor=str(attributes.get("actor", "system")),
        data={k: _plain(v) for k, v in attributes.items() if k not in STANDARD_FIELDS},
    )


_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder(EventEnvelope)


def encode_envelope(envelope: EventEnvelope) -> bytes:
    return _encoder.encode(envelope)


def decode_envelope(payload: bytes) -> EventEnvelope:
    """Decode and validate a message payload (raises msgspec.ValidationError if malformed)."""
    return _decoder.decode(payload)


def topic_of(event: DomainEventProtocol[Any]) -> str:
    return get_topic(type(event))
