"""Base aggregate whose events carry Modiste's metadata (event id, correlation, causation, actor).

Every event class that other processes consume is declared explicitly as a nested class with
an ``apply`` method, so renaming a command method never changes the stored schema.
"""

from __future__ import annotations

import uuid
from typing import Any

from eventsourcing.domain import Aggregate

from domain.shared.metadata import current_metadata


def _metadata_kwargs() -> dict[str, Any]:
    metadata = current_metadata()
    return {
        "event_id": uuid.uuid4(),
        "correlation_id": metadata.correlation_id,
        "causation_id": metadata.causation_id,
        "actor": metadata.actor,
    }


class ModisteAggregate(Aggregate):
    """An eventsourcing aggregate whose events are stamped from the bound metadata."""

    class Event(Aggregate.Event):
        event_id: uuid.UUID
        correlation_id: str
        causation_id: str
        actor: str

        def apply(self, aggregate: Any) -> None:
            """Mutate ``aggregate``; subclasses override."""

    class Created(Event, Aggregate.Created):
        pass

    @classmethod
    def _create(cls, event_class: Any, *, id: Any = None, **kwargs: Any) -> Any:
        return super()._create(event_class, id=id, **_metadata_kwargs(), **kwargs)

    def trigger_event(self, event_class: Any, **kwargs: Any) -> None:
        super().trigger_event(event_class, **_metadata_kwargs(), **kwargs)
