"""Durable JetStream pull consumers with explicit acks, bounded redelivery and dead letters.

A handler gets batches of envelopes. The runtime first offers the whole batch (projectors
apply it in one transaction); if that fails it falls back to one message at a time, naks a
failing message with a growing delay, and on its last delivery publishes it to
``modiste.dlq.<consumer>`` and reports it, so a poison event never blocks its consumer and
is never silently dropped.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import msgspec
import structlog
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from domain.shared.metadata import EventMetadata, bound_metadata
from infrastructure.messaging.codec import EventEnvelope, decode_envelope
from infrastructure.messaging.subjects import Headers, dead_letter_subject

log = structlog.get_logger(__name__)


class RetryLaterError(Exception):
    """The event cannot be applied yet (e.g. it arrived before its predecessor); nak it."""


class EventHandler(Protocol):
    """What a consumer runs: a projector or an agent."""

    @property
    def name(self) -> str: ...

    @property
    def subjects(self) -> Sequence[str]: ...

    async def handle_batch(self, envelopes: Sequence[EventEnvelope]) -> None:
        """Apply every envelope or none (raise to fall back to one at a time)."""
        ...

    async def handle(self, envelope: EventEnvelope) -> None:
        """Apply one envelope; exceptions make it redeliver, then dead-letter."""
        ...


DeadLetterHook = Callable[[str, EventEnvelope | None, bytes, str], Awaitable[None]]


@dataclass(frozen=True)
class ConsumerOptions:
    batch_size: int = 200
    max_deliver: int = 5
    backoff_seconds: tuple[float, ...] = (0.5, 2.0, 5.0, 15.0, 30.0)
    ack_wait_seconds: float = 30.0
    fetch_timeout_seconds: float = 1.0
    max_ack_pending: int = 2000


@dataclass
class ConsumerStats:
    delivered: int = 0
    acked: int = 0
    naked: int = 0
    dead_lettered: int = 0
    last_error: str | None = None
    batches: int = 0
    errors: list[str] = field(default_factory=list)


def durable_name(handler_name: str) -> str:
    return handler_name.replace(".", "-")


async def ensure_consumer(
    js: JetStreamContext, stream: str, handler: EventHandler, options: ConsumerOptions
) -> None:
    """Create the durable consumer, or update the settings that may change."""
    config = ConsumerConfig(
        durable_name=durable_name(handler.name),
        deliver_policy=DeliverPolicy.ALL,
        ack_policy=AckPolicy.EXPLICIT,
        ack_wait=options.ack_wait_seconds,
        max_deliver=options.max_deliver,
        max_ack_pending=options.max_ack_pending,
        filter_subjects=list(handler.subjects) if len(handler.subjects) > 1 else None,
        filter_subject=handler.subjects[0] if len(handler.subjects) == 1 else None,
    )
    # On NATS 2.10+ adding an existing durable with a compatible config updates it.
    await js.add_consumer(stream, config)


class ConsumerRunner:
    """Runs one handler on its durable pull consumer until stopped."""

    def __init__(
        self,
        js: JetStreamContext,
        stream: str,
        handler: EventHandler,
        options: ConsumerOptions | None = None,
        on_dead_letter: DeadLetterHook | None = None,
    ) -> None:
        self._js = js
        self._stream = stream
        self.handler = handler
        self.options = options or ConsumerOptions()
        self._on_dead_letter = on_dead_letter
        self.stats = ConsumerStats()

    async def run(self, stop: asyncio.Event) -> None:
        await ensure_consumer(self._js, self._stream, self.handler, self.options)
        subscription = await self._js.pull_subscribe_bind(
            durable=durable_name(self.handler.name), stream=self._stream
        )
        log.info("consumer.started", consumer=self.handler.name)
        try:
            while not stop.is_set():
                try:
                    messages = await subscription.fetch(
                        self.options.batch_size, timeout=self.options.fetch_timeout_seconds
                    )
                except TimeoutError:
                    continue
                except Exception as exc:  # NATS outage: wait and fetch again
                    log.warning(
                        "consumer.fetch_failed",
                        consumer=self.handler.name,
                        error=f"{type(exc).__name__}: {exc}",
                    )
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(stop.wait(), 1.0)
                    continue
                # A stop request lets the current batch finish and be acked.
                await self.process(messages)
        finally:
            with contextlib.suppress(Exception):
                await subscription.unsubscribe()
            log.info("consumer.stopped", consumer=self.handler.name)

    async def process(self, messages: Sequence[Msg]) -> None:
        """Handle one fetched batch: all at once if possible, else message by message."""
        self.stats.delivered += len(messages)
        self.stats.batches += 1
        decoded: list[tuple[Msg, EventEnvelope]] = []
        for msg in messages:
            try:
                decoded.append((msg, decode_envelope(msg.data)))
            except (msgspec.DecodeError, msgspec.ValidationError) as exc:
                await self._dead_letter(msg, None, f"undecodable message: {exc}")
        if not decoded:
            return
        # Kept in this frame and cancelled in the finally below.
        heartbeat = asyncio.create_task(self._keep_alive([m for m, _ in decoded]))  # noqa: RUF006
        try:
            try:
                await self.handler.handle_batch([envelope for _, envelope in decoded])
            except Exception as exc:
                log.info(
                    "consumer.batch_fallback",
                    consumer=self.handler.name,
                    error=f"{type(exc).__name__}: {exc}",
                )
                for msg, envelope in decoded:
                    await self._process_one(msg, envelope)
                return
        finally:
            heartbeat.cancel()
        for msg, _ in decoded:
            await msg.ack()
        self.stats.acked += len(decoded)

    async def _process_one(self, msg: Msg, envelope: EventEnvelope) -> None:
        metadata = EventMetadata(
            correlation_id=envelope.correlation_id,
            causation_id=envelope.event_id,
            actor=f"agent:{self.handler.name}",
        )
        with (
            structlog.contextvars.bound_contextvars(
                correlation_id=envelope.correlation_id,
                causation_id=envelope.event_id,
                consumer=self.handler.name,
                position=envelope.position,
            ),
            bound_metadata(metadata),
        ):
            try:
                await self.handler.handle(envelope)
            except Exception as exc:
                await self._failed(msg, envelope, exc)
                return
        await msg.ack()
        self.stats.acked += 1

    async def _failed(self, msg: Msg, envelope: EventEnvelope, exc: Exception) -> None:
        error = f"{type(exc).__name__}: {exc}"
        self.stats.last_error = error
        delivered = msg.metadata.num_delivered or 1
        if delivered >= self.options.max_deliver:
            log.error(
                "consumer.dead_letter",
                consumer=self.handler.name,
                error=error,
                event_type=envelope.type,
                position=envelope.position,
                deliveries=delivered,
            )
            await self._dead_letter(msg, envelope, error)
            return
        delay = self.options.backoff_seconds[
            min(delivered - 1, len(self.options.backoff_seconds) - 1)
        ]
        level = "info" if isinstance(exc, RetryLaterError) else "warning"
        getattr(log, level)(
            "consumer.retry",
            consumer=self.handler.name,
            error=error,
            event_type=envelope.type,
            position=envelope.position,
            deliveries=delivered,
            delay=delay,
        )
        await msg.nak(delay=delay)
        self.stats.naked += 1

    async def _dead_letter(self, msg: Msg, envelope: EventEnvelope | None, error: str) -> None:
        headers = dict(msg.headers or {})
        headers.pop(Headers.MSG_ID, None)
        headers[Headers.ERROR] = error[:1000]
        headers[Headers.CONSUMER] = self.handler.name
        await self._js.publish(
            dead_letter_subject(durable_name(self.handler.name)), msg.data, headers=headers
        )
        if self._on_dead_letter is not None:
            await self._on_dead_letter(self.handler.name, envelope, msg.data, error)
        await msg.term()
        self.stats.dead_lettered += 1

    async def _keep_alive(self, messages: Sequence[Msg]) -> None:
        """Tell JetStream we are still working (+WPI) while a long batch runs."""
        while True:
            await asyncio.sleep(self.options.ack_wait_seconds / 3)
            for msg in messages:
                with contextlib.suppress(Exception):
                    await msg.in_progress()
