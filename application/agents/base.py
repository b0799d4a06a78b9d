"""Agents: event -> commands, applied exactly once.

An agent is a set of policies, ``on_<EventName>(event, tracking)``, registered in an
explicit map. A policy runs commands through the context Applications and saves what it
changed together with a tracking record of the upstream event (the library's process
recorder), in one transaction. A redelivered event finds its tracking record and is a
no-op; a concurrent change makes the policy run again on fresh state.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

import anyio.to_thread
import structlog
from eventsourcing.persistence import Tracking

from application.base import ModisteApplication, retry_on_conflict
from domain.shared.metadata import EventMetadata, bound_metadata

log = structlog.get_logger(__name__)

Policy = Callable[[Any, Tracking], None]
"""A policy gets the event envelope (anything with .type, .position, .data, .aggregate_id)
and the tracking record to save with its effects."""


class Envelope(Protocol):
    """What a policy reads of an event (the messaging layer's envelope satisfies it)."""

    @property
    def type(self) -> str: ...
    @property
    def position(self) -> int: ...
    @property
    def aggregate_id(self) -> str: ...
    @property
    def aggregate_version(self) -> int: ...
    @property
    def event_id(self) -> str: ...
    @property
    def correlation_id(self) -> str: ...
    @property
    def data(self) -> dict[str, Any]: ...


class Agent:
    """A map of policies over the events of some bounded contexts (one durable consumer)."""

    def __init__(
        self,
        name: str,
        contexts: Sequence[str],
        policies: Mapping[str, Policy],
        tracker: ModisteApplication,
    ) -> None:
        self.name = name
        self.contexts = list(contexts)
        self.policies = dict(policies)
        self._tracker = tracker

    def tracking(self, envelope: Envelope) -> Tracking:
        return Tracking(application_name=self.name, notification_id=envelope.position)

    def already_processed(self, envelope: Envelope) -> bool:
        return bool(self._tracker.process_recorder.has_tracking_id(self.name, envelope.position))

    def process(self, envelope: Envelope) -> None:
        """Apply the policy for ``envelope`` once (sync; runs in a worker thread)."""
        policy = self.policies.get(envelope.type)
        if policy is None:
            return

        def attempt() -> None:
            if self.already_processed(envelope):
                return
            policy(envelope, self.tracking(envelope))

        retry_on_conflict(attempt)
        log.debug(
            "agent.processed", agent=self.name, event_type=envelope.type, position=envelope.position
        )

    async def handle(self, envelope: Envelope) -> None:
        # Whatever the policy records is caused by this event and shares its correlation.
        metadata = EventMetadata(
            correlation_id=envelope.correlation_id,
            causation_id=envelope.event_id,
            actor=f"agent:{self.name}",
        )
        with bound_metadata(metadata):
            await anyio.to_thread.run_sync(self.process, envelope)

    async def handle_batch(self, envelopes: Sequence[Envelope]) -> None:
        for envelope in envelopes:
            await self.handle(envelope)
