"""The partner publisher: a durable consumer of internal events that publishes their public
v1 translations on ``modiste.public.v1.>`` (into stream MODISTE_PUBLIC).

At least once, without duplicates inside JetStream's window: each public message is
published with ``Nats-Msg-Id`` = its stable ``event_id`` and acknowledged by JetStream
before the internal event is acked, so a redelivered internal event re-publishes messages
that JetStream drops as duplicates. Partners de-duplicate beyond the window by event_id.

It also keeps each registered partner's durable consumer in step with the access file
(local mode: ``<data_dir>/nats-auth.json``), so a partner added with `modiste partners add`
can fetch as soon as the publisher sees the file change.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import anyio.to_thread
import structlog
from nats.js import JetStreamContext

from infrastructure.bootstrap import Container
from infrastructure.local.nats_auth import ACCESS_FILE, NatsAccess
from infrastructure.messaging.codec import EventEnvelope
from infrastructure.messaging.partners import (
    PUBLIC_STREAM,
    PublicStreamSettings,
    ensure_partner_consumer,
    ensure_public_stream,
)
from infrastructure.messaging.subjects import Headers, context_events
from interfaces.partners.contract import SCHEMA_VERSION, encode_message
from interfaces.partners.translator import (
    PUBLISHED_CONTEXTS,
    AggregateLookup,
    Outgoing,
    StateLookup,
    translate,
)

log = structlog.get_logger(__name__)

NAME = "partners-publisher"
PUBLISH_TIMEOUT_SECONDS = 10.0


class PartnerPublisher:
    """Consumer handler: internal envelopes in, public v1 messages out."""

    def __init__(
        self,
        js: JetStreamContext,
        lookup: StateLookup,
        stream: PublicStreamSettings | None = None,
        access_dir: Path | None = None,
    ) -> None:
        self.name = NAME
        self.subjects = [context_events(context) for context in PUBLISHED_CONTEXTS]
        self._js = js
        self._lookup = lookup
        self._stream = stream or PublicStreamSettings()
        self._access_path = access_dir / ACCESS_FILE if access_dir else None
        self._stream_ready = False
        self._access_seen: float | None = None
        self.published = 0

    async def prepare(self) -> None:
        """Create the public stream and the partners' consumers (idempotent)."""
        if not self._stream_ready:
            await ensure_public_stream(self._js, self._stream)
            self._stream_ready = True
        await self._sync_partner_consumers()

    async def _sync_partner_consumers(self) -> None:
        if self._access_path is None:
            return
        try:
            seen = self._access_path.stat().st_mtime
        except FileNotFoundError:
            return
        if seen == self._access_seen:
            return
        access = NatsAccess.load_or_create(self._access_path.parent)
        for name, partner in access.partners.items():
            await ensure_partner_consumer(self._js, name, partner.allow)
        self._access_seen = seen
        log.info("partners.consumers_synced", partners=sorted(access.partners))

    async def handle_batch(self, envelopes: Sequence[EventEnvelope]) -> None:
        await self.prepare()
        outgoing = await anyio.to_thread.run_sync(self._translate_all, list(envelopes))
        for message in outgoing:
            await self._publish(message)

    async def handle(self, envelope: EventEnvelope) -> None:
        await self.handle_batch([envelope])

    def _translate_all(self, envelopes: list[EventEnvelope]) -> list[Outgoing]:
        return [out for envelope in envelopes for out in translate(envelope, self._lookup)]

    async def _publish(self, outgoing: Outgoing) -> None:
        await self._js.publish(
            outgoing.subject,
            encode_message(outgoing.message),
            stream=PUBLIC_STREAM,
            timeout=PUBLISH_TIMEOUT_SECONDS,
            headers={
                Headers.MSG_ID: outgoing.msg_id,
                Headers.EVENT_TYPE: type(outgoing.message).__name__,
                Headers.EVENT_VERSION: str(SCHEMA_VERSION),
                Headers.CORRELATION_ID: outgoing.message.correlation_id,
            },
        )
        self.published += 1


def partner_publisher(js: JetStreamContext, container: Container) -> PartnerPublisher:
    """The publisher wired to a Container: orders for state lookups, settings for the
    stream and for the access file under the data dir."""
    settings = container.settings
    stream = PublicStreamSettings(
        replicas=settings.stream_replicas,
        storage=settings.stream_storage,
        max_age_days=settings.stream_max_age_days,
        duplicate_window_seconds=settings.stream_duplicate_window_seconds,
    )
    return PartnerPublisher(js, AggregateLookup(container.orders), stream, settings.data_dir)
