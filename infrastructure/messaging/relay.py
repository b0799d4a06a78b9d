"""The relay: event store notification log -> JetStream, at least once, in order.

The event store is the outbox. The relay follows its notification log through the
library's LISTEN/NOTIFY subscription, publishes each event with ``Nats-Msg-Id =
<aggregate id>:<version>`` (JetStream drops the duplicates a restart re-sends), pipelines
the publishes and records its position only after every ack of a batch has arrived.

On every (re)connect it compares the stream's last position with its own: JetStream acks
before it fsyncs, so a crashed server can lose acked messages; the relay then re-publishes
from what the stream still has.
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import threading
from dataclasses import dataclass

import asyncpg
import nats
import structlog
from nats.aio.client import Client as NatsClient
from nats.js import JetStreamContext
from nats.js.errors import NotFoundError

from infrastructure.eventstore.log import EventLog
from infrastructure.messaging.codec import EventEnvelope, encode_envelope
from infrastructure.messaging.stream import StreamSettings, ensure_streams
from infrastructure.messaging.subjects import Headers

log = structlog.get_logger(__name__)

POSITIONS_SQL = """
CREATE TABLE IF NOT EXISTS relay_positions (
    name        text PRIMARY KEY,
    position    bigint NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now()
);
"""


class PublishFailedError(RuntimeError):
    """A batch was not fully acknowledged; the relay restarts from its saved position."""


class RelayPositionStore:
    """The relay's position (last notification id acknowledged by JetStream) in PostgreSQL."""

    def __init__(self, pool: asyncpg.Pool, name: str = "jetstream") -> None:
        self._pool = pool
        self.name = name

    async def create_schema(self) -> None:
        await self._pool.execute(POSITIONS_SQL)

    async def get(self) -> int:
        value = await self._pool.fetchval(
            "SELECT position FROM relay_positions WHERE name = $1", self.name
        )
        return int(value or 0)

    async def set(self, position: int) -> None:
        await self._pool.execute(
            "INSERT INTO relay_positions (name, position) VALUES ($1, $2) "
            "ON CONFLICT (name) DO UPDATE SET position = EXCLUDED.position, updated_at = now()",
            self.name,
            position,
        )


def message_headers(envelope: EventEnvelope) -> dict[str, str]:
    return {
        Headers.MSG_ID: envelope.msg_id,
        Headers.POSITION: str(envelope.position),
        Headers.EVENT_TYPE: envelope.type,
        Headers.EVENT_VERSION: str(envelope.schema_version),
        Headers.CORRELATION_ID: envelope.correlation_id,
        Headers.CAUSATION_ID: envelope.causation_id,
    }


@dataclass
class RelayStats:
    published: int = 0
    duplicates: int = 0
    batches: int = 0
    restarts: int = 0
    rewinds: int = 0


class Relay:
    """Publishes every recorded event to JetStream, in notification-id order."""

    def __init__(
        self,
        event_log: EventLog,
        positions: RelayPositionStore,
        nats_url: str,
        stream: StreamSettings,
        *,
        batch_size: int = 500,
        ack_timeout: float = 10.0,
    ) -> None:
        self._log = event_log
        self._positions = positions
        self._nats_url = nats_url
        self._stream = stream
        self._batch_size = batch_size
        self._ack_timeout = ack_timeout
        self._nc: NatsClient | None = None
        self._disconnected = asyncio.Event()
        self.stats = RelayStats()
        self.position = 0

    async def run(self, stop: asyncio.Event) -> None:
        """Relay until ``stop`` is set; survives NATS outages by restarting from its position.

        Each session uses a fresh connection that never reconnects by itself: a client that
        reconnects would flush the publishes it buffered while the server was away, after
        the server may have lost earlier ones, and the stream would no longer be in
        notification-id order. Instead a failed session is closed (dropping that buffer),
        and the next one reconciles with the stream and re-publishes from there.
        """
        await self._positions.create_schema()
        backoff = 0.2
        while not stop.is_set():
            nc: NatsClient | None = None
            clean_stop = False
            try:
                nc = await nats.connect(
                    self._nats_url,
                    name="modiste-relay",
                    allow_reconnect=False,
                    connect_timeout=2,
                    disconnected_cb=self._on_disconnected,
                )
                self._nc = nc
                js = nc.jetstream(timeout=self._ack_timeout)
                await ensure_streams(js, self._stream)
                start = await self._reconcile(js)
                backoff = 0.2
                await self._pump(js, start, stop)
                clean_stop = True
            except (PublishFailedError, nats.errors.Error, TimeoutError, OSError) as exc:
                self.stats.restarts += 1
                log.warning(
                    "relay.restart",
                    error=f"{type(exc).__name__}: {exc}",
                    position=self.position,
                    backoff=backoff,
                )
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), backoff)
                backoff = min(backoff * 2, 5.0)
            finally:
                if nc is not None and not nc.is_closed:
                    with contextlib.suppress(Exception):
                        # Drain only after a clean stop; after a failure drop what is
                        # buffered (it is re-published from the reconciled position).
                        await (nc.drain() if clean_stop else nc.close())

    async def _on_disconnected(self) -> None:
        log.warning("relay.nats_disconnected")
        self._disconnected.set()

    async def _reconcile(self, js: JetStreamContext) -> int:
        """Where to publish from: our saved position, or earlier if the stream lost events."""
        saved = await self._positions.get()
        info = await js.stream_info(self._stream.name)
        stream_position = 0
        if info.state.last_seq:
            try:
                last = await js.get_msg(self._stream.name, seq=info.state.last_seq)
            except NotFoundError:
                # Removed by policy (max age, purge), not lost in a crash: nothing to compare.
                stream_position = saved
            else:
                stream_position = int((last.headers or {}).get(Headers.POSITION, 0))
        start = saved
        if stream_position < saved:
            self.stats.rewinds += 1
            log.warning(
                "relay.stream_lost_events", saved_position=saved, stream_position=stream_position
            )
            start = stream_position
            await self._positions.set(start)
        self._disconnected.clear()
        self.position = start
        log.info("relay.start", position=start, head=await asyncio.to_thread(self._log.head))
        return start

    async def _pump(self, js: JetStreamContext, start: int, stop: asyncio.Event) -> None:
        # The library's subscription blocks, so a thread follows it into a plain queue;
        # the loop takes whole batches from that queue (one thread hop per batch).
        buffer: queue.Queue[EventEnvelope] = queue.Queue(maxsize=self._batch_size * 4)
        subscription = self._log.subscribe(start)
        failure: list[BaseException] = []
        halted = threading.Event()

        def follow() -> None:
            try:
                for notification in subscription:
                    envelope = self._log.envelope(notification)
                    while not halted.is_set():
                        try:
                            buffer.put(envelope, timeout=0.2)
                            break
                        except queue.Full:
                            continue
                    if halted.is_set():
                        return
            except BaseException as exc:
                failure.append(exc)

        follower = threading.Thread(target=follow, name="relay-follower", daemon=True)
        follower.start()
        try:
            while not stop.is_set():
                if self._disconnected.is_set():
                    raise PublishFailedError("NATS connection lost: reconcile with the stream")
                if failure:
                    raise PublishFailedError(f"event store subscription failed: {failure[0]}")
                batch = await asyncio.to_thread(self._next_batch, buffer)
                if batch:
                    await self._publish(js, batch)
        finally:
            halted.set()
            subscription.stop()
            await asyncio.to_thread(follower.join, 5)

    def _next_batch(self, buffer: queue.Queue[EventEnvelope]) -> list[EventEnvelope]:
        """Up to batch_size envelopes: waits briefly for the first, then takes what is there."""
        try:
            batch = [buffer.get(timeout=0.5)]
        except queue.Empty:
            return []
        while len(batch) < self._batch_size:
            try:
                batch.append(buffer.get_nowait())
            except queue.Empty:
                break
        return batch

    async def _publish(self, js: JetStreamContext, batch: list[EventEnvelope]) -> None:
        futures = [
            await js.publish_async(
                envelope.subject,
                encode_envelope(envelope),
                headers=message_headers(envelope),
                wait_stall=self._ack_timeout,
            )
            for envelope in batch
        ]
        try:
            acks = await asyncio.wait_for(asyncio.gather(*futures), self._ack_timeout)
        except BaseException as exc:
            for future in futures:
                future.cancel()
            raise PublishFailedError(f"batch not acknowledged: {type(exc).__name__}") from exc
        self.stats.duplicates += sum(1 for ack in acks if ack.duplicate)
        self.stats.published += len(batch)
        self.stats.batches += 1
        self.position = batch[-1].position
        await self._positions.set(self.position)
