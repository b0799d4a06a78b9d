"""Reading the event store's notification log: the source of truth for the relay and rebuilds."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from eventsourcing.persistence import Notification, Subscription

from application.base import ModisteApplication
from infrastructure.messaging.codec import EventEnvelope, envelope_of


class EventLog:
    """The shared notification log (positions are notification ids), decoded to envelopes."""

    def __init__(self, app: ModisteApplication) -> None:
        self._app = app

    def head(self) -> int:
        """The highest notification id recorded so far (0 when empty)."""
        return self._app.recorder.max_notification_id() or 0

    def envelope(self, notification: Notification) -> EventEnvelope:
        event = self._app.mapper.to_domain_event(notification)
        return envelope_of(event, notification.id)

    def read(self, after: int, limit: int, stop: int | None = None) -> list[EventEnvelope]:
        """Up to ``limit`` envelopes with positions in (after, stop]."""
        notifications = self._app.recorder.select_notifications(
            start=after, limit=limit, stop=stop, inclusive_of_start=False
        )
        return [self.envelope(n) for n in notifications]

    def iterate(
        self, after: int, stop: int | None = None, page: int = 2000
    ) -> Iterator[EventEnvelope]:
        """Every envelope after ``after`` (up to ``stop``), paged."""
        position = after
        while True:
            batch = self.read(position, page, stop)
            if not batch:
                return
            yield from batch
            position = batch[-1].position

    def subscribe(self, after: int) -> Subscription[Any]:
        """The library's LISTEN/NOTIFY subscription, yielding notifications after ``after``."""
        return self._app.recorder.subscribe(gt=after)
