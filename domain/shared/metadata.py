"""Who caused an event and why: correlation, causation and actor, carried by a ContextVar.

The API middleware and the consumer runtime bind the metadata of the command or message
they are handling; every event an aggregate triggers while it is bound carries it.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass


@dataclass(frozen=True)
class EventMetadata:
    """Correlation id (the whole conversation), causation id (the direct cause), actor."""

    correlation_id: str
    causation_id: str
    actor: str


SYSTEM_ACTOR = "system"

_current: ContextVar[EventMetadata | None] = ContextVar("modiste_event_metadata", default=None)


def new_correlation_id() -> str:
    """A fresh correlation id (a UUID4 in hex)."""
    return uuid.uuid4().hex


def current_metadata() -> EventMetadata:
    """The bound metadata, or a fresh system-originated one when nothing is bound."""
    bound = _current.get()
    if bound is not None:
        return bound
    correlation_id = new_correlation_id()
    return EventMetadata(correlation_id, correlation_id, SYSTEM_ACTOR)


@contextmanager
def bound_metadata(metadata: EventMetadata) -> Iterator[EventMetadata]:
    """Bind ``metadata`` for the duration of the block (restores the previous value)."""
    token = _current.set(metadata)
    try:
        yield metadata
    finally:
        _current.reset(token)
