"""The base of every context Application: one shared event store, commands with retries."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar, Generic, TypeVar

from eventsourcing.application import AggregateNotFoundError, Application, ProcessingEvent
from eventsourcing.persistence import (
    InfrastructureFactory,
    IntegrityError,
    ProcessRecorder,
    Recording,
    Tracking,
)
from eventsourcing.utils import Environment
from tenacity import Retrying, retry_if_exception_type, stop_after_attempt, wait_random_exponential

from application.errors import ConcurrencyConflictError, NotFoundError
from domain.shared.aggregate import ModisteAggregate

A = TypeVar("A", bound=ModisteAggregate)

CONFLICT_RETRIES = 25


@dataclass(frozen=True)
class CommandResult(Generic[A]):
    """The aggregate after a command and the notification id of its last recorded event.

    ``position`` is None when the command changed nothing (an idempotent repeat).
    """

    aggregate: A
    position: int | None


def last_position(recordings: list[Recording[Any]]) -> int | None:
    """The highest notification id among ``recordings`` (None if nothing was recorded)."""
    ids = [r.notification.id for r in recordings]
    return max(ids) if ids else None


class ModisteApplication(Application[uuid.UUID]):
    """An eventsourcing Application over the shared ``modiste_*`` tables.

    All context Applications share one factory (one pool) and one notification log, so a
    position (notification id) means the same thing everywhere. The recorder is a process
    recorder, so agents can save their events together with a tracking record.
    """

    name = "modiste"
    # Every context saves other contexts' aggregates too (agents do), so all share one map.
    snapshotting_intervals: ClassVar[dict[type[Any], int]] = {}

    def __init__(self, factory: InfrastructureFactory, snapshot_interval: int = 50) -> None:
        self._shared_factory = factory
        super().__init__(env=dict(factory.env))
        # Per instance: the interval comes from settings, not from the class.
        self.snapshotting_intervals = dict.fromkeys(  # type: ignore[misc]
            snapshotted_aggregates(), snapshot_interval
        )

    def construct_factory(self, env: Environment) -> InfrastructureFactory:
        return self._shared_factory

    def construct_recorder(self) -> ProcessRecorder:
        return self.factory.process_recorder()

    @property
    def process_recorder(self) -> ProcessRecorder:
        """The recorder, typed as what it is: events plus tracking records."""
        assert isinstance(self.recorder, ProcessRecorder)
        return self.recorder

    def close(self) -> None:
        """The composition root owns the shared factory; closing an app leaves it open."""
        self.closing.set()

    def save_tracked(
        self, tracking: Tracking | None, *aggregates: ModisteAggregate
    ) -> list[Recording[Any]]:
        """Save ``aggregates`` and, atomically with them, the upstream ``tracking`` record."""
        if tracking is None:
            return self.save(*aggregates)
        # With no aggregate changes, the tracking record alone marks the event as handled.
        processing_event: ProcessingEvent[Any] = ProcessingEvent(tracking=tracking)
        processing_event.collect_events(*aggregates)
        recordings = self._record(processing_event)
        self._take_snapshots(processing_event)
        return recordings

    # -- helpers for use cases -----------------------------------------------------------

    def load(self, aggregate_id: uuid.UUID, kind: type[A]) -> A:
        """Get an aggregate of type ``kind`` or raise NotFoundError."""
        try:
            aggregate: Any = self.repository.get(aggregate_id)
        except AggregateNotFoundError:
            raise NotFoundError(kind.__name__.lower(), aggregate_id) from None
        if not isinstance(aggregate, kind):
            raise NotFoundError(kind.__name__.lower(), aggregate_id)
        return aggregate

    def execute(
        self,
        aggregate_id: uuid.UUID,
        kind: type[A],
        command: Callable[[A], object],
        *,
        expected_version: int | None = None,
        tracking: Tracking | None = None,
    ) -> CommandResult[A]:
        """Load, run ``command`` on, and save one aggregate.

        Without ``expected_version`` a concurrent write makes us re-run the command on the
        fresh state (its guards are checked again, so nothing is lost); with it, a version
        mismatch is a ConcurrencyConflictError for the caller to resolve.
        """

        def attempt() -> CommandResult[A]:
            aggregate = self.load(aggregate_id, kind)
            if expected_version is not None and aggregate.version != expected_version:
                raise ConcurrencyConflictError(
                    f"{kind.__name__} {aggregate_id} is at version {aggregate.version}, "
                    f"not {expected_version}"
                )
            command(aggregate)
            if not aggregate.pending_events and tracking is None:
                return CommandResult(aggregate, None)
            return CommandResult(aggregate, last_position(self.save_tracked(tracking, aggregate)))

        if expected_version is not None:
            try:
                return attempt()
            except IntegrityError:
                raise ConcurrencyConflictError(
                    f"{kind.__name__} {aggregate_id} was changed concurrently"
                ) from None
        return retry_on_conflict(attempt)


T = TypeVar("T")


def snapshotted_aggregates() -> tuple[type[ModisteAggregate], ...]:
    """Aggregates whose long streams get snapshots (a stock-heavy product, a busy ledger)."""
    from domain.catalog.aggregates import Product
    from domain.finance.aggregates import Ledger
    from domain.ops.aggregates import OpsAlert
    from domain.orders.aggregates import Order

    return (Product, Order, OpsAlert, Ledger)


def retry_on_conflict(attempt: Callable[[], T]) -> T:
    """Run ``attempt`` again (on fresh state) when a concurrent save wins the version race."""
    try:
        for retry in Retrying(
            retry=retry_if_exception_type(IntegrityError),
            stop=stop_after_attempt(CONFLICT_RETRIES),
            wait=wait_random_exponential(multiplier=0.005, max=0.25),
            reraise=True,
        ):
            with retry:
                return attempt()
    except IntegrityError:
        raise ConcurrencyConflictError("the aggregate was changed concurrently; retry") from None
    raise AssertionError("unreachable")  # pragma: no cover
