"""NATS side of the partner contract: the public stream, per-partner durable consumers, and
the permissions that confine a partner's credentials to its own subjects.

Partners read in one of two ways, both confined by the same credentials:

* a durable JetStream pull consumer ``partner-<name>`` on stream ``MODISTE_PUBLIC``,
  filtered to the partner's subjects and created by Modiste (a partner may fetch from and
  ack on its own consumer only; it can create none, so it cannot widen its filter); or
* a plain core-NATS subscription on the subjects it is allowed.

Replies (fetch results, consumer info) go to the partner's own inbox prefix
``_INBOX.partner-<name>``, so no partner can read another's inbox.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Sequence
from dataclasses import dataclass

from nats.js import JetStreamContext
from nats.js.api import (
    AckPolicy,
    ConsumerConfig,
    DeliverPolicy,
    DiscardPolicy,
    RetentionPolicy,
    StorageType,
    StreamConfig,
)
from nats.js.errors import NotFoundError

from infrastructure.messaging.subjects import PUBLIC_PREFIX

PUBLIC_STREAM = "MODISTE_PUBLIC"
ALL_PUBLIC = f"{PUBLIC_PREFIX}.>"
_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,39}$")
_TOKEN = re.compile(r"^[A-Za-z0-9_\-]+$")


class InvalidPartnerError(ValueError):
    """A partner name or an allowed subject that Modiste will not grant."""


def require_partner_name(name: str) -> str:
    if not _NAME.match(name):
        raise InvalidPartnerError(
            "a partner name is 1-40 characters of a-z, 0-9 and '-', starting with a letter or digit"
        )
    return name


def require_public_subject(subject: str) -> str:
    """A subject (wildcards allowed as whole tokens) inside ``modiste.public.v1.>``."""
    tokens = subject.split(".")
    prefix = PUBLIC_PREFIX.split(".")
    if tokens[: len(prefix)] != prefix or len(tokens) <= len(prefix):
        raise InvalidPartnerError(
            f"{subject!r}: partners may only be allowed subjects under {PUBLIC_PREFIX}."
        )
    for index, part in enumerate(tokens[len(prefix) :], start=len(prefix)):
        if part == ">" and index == len(tokens) - 1:
            continue
        if part == "*" or _TOKEN.match(part):
            continue
        raise InvalidPartnerError(f"{subject!r}: {part!r} is not a valid subject token")
    return subject


def partner_user(name: str) -> str:
    return f"partner-{name}"


def partner_durable(name: str) -> str:
    return f"partner-{name}"


def partner_inbox_prefix(name: str) -> str:
    return f"_INBOX.partner-{name}"


@dataclass(frozen=True)
class PartnerPermissions:
    publish: list[str]
    subscribe: list[str]


def partner_permissions(name: str, allow: Sequence[str]) -> PartnerPermissions:
    """What partner ``name`` may do: read ``allow`` (plainly or via its own durable)."""
    durable = partner_durable(name)
    return PartnerPermissions(
        publish=[
            f"$JS.API.CONSUMER.MSG.NEXT.{PUBLIC_STREAM}.{durable}",
            f"$JS.API.CONSUMER.INFO.{PUBLIC_STREAM}.{durable}",
            f"$JS.ACK.{PUBLIC_STREAM}.{durable}.>",
        ],
        subscribe=[*allow, f"{partner_inbox_prefix(name)}.>"],
    )


@dataclass(frozen=True)
class PublicStreamSettings:
    replicas: int = 1
    storage: str = "file"
    max_age_days: float = 30.0
    duplicate_window_seconds: float = 600.0


def public_stream_config(settings: PublicStreamSettings) -> StreamConfig:
    return StreamConfig(
        name=PUBLIC_STREAM,
        subjects=[ALL_PUBLIC],
        retention=RetentionPolicy.LIMITS,
        storage=StorageType.FILE if settings.storage == "file" else StorageType.MEMORY,
        num_replicas=settings.replicas,
        max_age=settings.max_age_days * 86400,
        duplicate_window=settings.duplicate_window_seconds,
        discard=DiscardPolicy.OLD,
    )


async def ensure_public_stream(js: JetStreamContext, settings: PublicStreamSettings) -> None:
    config = public_stream_config(settings)
    try:
        await js.stream_info(PUBLIC_STREAM)
    except NotFoundError:
        await js.add_stream(config)
    else:
        await js.update_stream(config)


async def ensure_partner_consumer(js: JetStreamContext, name: str, allow: Sequence[str]) -> None:
    """Create (or re-filter) partner ``name``'s durable consumer on the public stream."""
    subjects = list(allow)
    config = ConsumerConfig(
        durable_name=partner_durable(name),
        deliver_policy=DeliverPolicy.ALL,
        ack_policy=AckPolicy.EXPLICIT,
        ack_wait=30,
        max_ack_pending=1000,
        filter_subjects=subjects if len(subjects) > 1 else None,
        filter_subject=subjects[0] if len(subjects) == 1 else None,
    )
    await js.add_consumer(PUBLIC_STREAM, config)


async def remove_partner_consumer(js: JetStreamContext, name: str) -> None:
    with contextlib.suppress(NotFoundError):
        await js.delete_consumer(PUBLIC_STREAM, partner_durable(name))
