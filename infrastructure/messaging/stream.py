"""The MODISTE_EVENTS JetStream stream: created or updated from settings."""

from __future__ import annotations

from dataclasses import dataclass

from nats.js import JetStreamContext
from nats.js.api import DiscardPolicy, RetentionPolicy, StorageType, StreamConfig
from nats.js.errors import NotFoundError

from infrastructure.messaging.subjects import ALL_EVENTS, DLQ_PREFIX


@dataclass(frozen=True)
class StreamSettings:
    name: str = "MODISTE_EVENTS"
    replicas: int = 1
    storage: str = "file"
    max_age_days: float = 30.0
    duplicate_window_seconds: float = 600.0


def stream_config(settings: StreamSettings) -> StreamConfig:
    return StreamConfig(
        name=settings.name,
        subjects=[ALL_EVENTS],
        retention=RetentionPolicy.LIMITS,
        storage=StorageType.FILE if settings.storage == "file" else StorageType.MEMORY,
        num_replicas=settings.replicas,
        max_age=settings.max_age_days * 86400,
        duplicate_window=settings.duplicate_window_seconds,
        discard=DiscardPolicy.OLD,
    )


def dead_letter_config(settings: StreamSettings) -> StreamConfig:
    """Dead letters are kept in their own stream so operators can inspect and replay them."""
    return StreamConfig(
        name=f"{settings.name}_DLQ",
        subjects=[f"{DLQ_PREFIX}.>"],
        retention=RetentionPolicy.LIMITS,
        storage=StorageType.FILE if settings.storage == "file" else StorageType.MEMORY,
        num_replicas=settings.replicas,
        max_age=settings.max_age_days * 86400,
    )


async def ensure_streams(js: JetStreamContext, settings: StreamSettings) -> None:
    """Create the event and dead-letter streams, or bring their settings up to date."""
    for config in (stream_config(settings), dead_letter_config(settings)):
        try:
            await js.stream_info(config.name or "")
        except NotFoundError:
            await js.add_stream(config)
        else:
            await js.update_stream(config)
