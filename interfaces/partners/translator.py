"""Internal event envelopes -> public v1 messages.

The only place that knows both sides. Each translation names the internal event class it
reads (a class reference: renaming the class renames it here too, or fails at import) and
the fields it reads (a test checks they exist on that class, so renaming an internal field
fails the build instead of silently changing what partners receive). The public names and
shapes never follow an internal rename.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from domain.ateliers.aggregates import AtelierMatch
from domain.catalog.aggregates import Product
from domain.orders.aggregates import Order
from infrastructure.messaging.codec import EventEnvelope
from interfaces.partners.contract import (
    SCHEMA_VERSION,
    MatchAccepted,
    MatchRequested,
    Money,
    OrderConfirmed,
    OrderLine,
    PriceChanged,
    ProductDelisted,
    ProductListed,
    PublicEvent,
)

PUBLIC_EVENT_NAMESPACE = uuid.UUID("5a4c1f0e-77b2-4d3c-9a61-0c2e8f4b9d17")


class TranslationError(ValueError):
    """An internal event no longer has what its v1 translation reads (a contract break)."""


@dataclass(frozen=True)
class OrderFacts:
    """What OrderConfirmed publishes, read from the order at the confirming version."""

    lines: list[OrderLine]
    total: Money


class StateLookup(Protocol):
    """Reads aggregate state at a given version, for events that carry no data."""

    def order_at(self, order_id: uuid.UUID, version: int) -> OrderFacts: ...


@dataclass(frozen=True)
class Outgoing:
    """One public message and the subject it goes to."""

    subject: str
    message: PublicEvent

    @property
    def msg_id(self) -> str:
        return self.message.event_id


Builder = Callable[[EventEnvelope, StateLookup], list[PublicEvent]]


@dataclass(frozen=True)
class Translation:
    internal: type[Any]
    reads: tuple[str, ...]
    build: Builder


def _field(envelope: EventEnvelope, name: str) -> Any:
    try:
        return envelope.data[name]
    except KeyError:
        raise TranslationError(
            f"internal {envelope.context}.{envelope.type} has no field {name!r}, which the "
            "partner contract v1 reads: keep the field or update interfaces/partners/"
            "translator.py (the public message must not change)"
        ) from None


def _common(envelope: EventEnvelope, public_type: str, recipient: str = "") -> dict[str, Any]:
    """The fields every message has; the event id is stable across redeliveries."""
    event_id = uuid.uuid5(PUBLIC_EVENT_NAMESPACE, f"{envelope.event_id}/{public_type}/{recipient}")
    return {
        "schema_version": SCHEMA_VERSION,
        "event_id": str(event_id),
        "occurred_at": envelope.occurred_at,
        "correlation_id": envelope.correlation_id,
    }


def _money(envelope: EventEnvelope, amount: str, currency: str) -> Money:
    return Money(amount=int(_field(envelope, amount)), currency=str(_field(envelope, currency)))


# -- catalog ---------------------------------------------------------------------------------


def _product_listed(e: EventEnvelope, _: StateLookup) -> list[PublicEvent]:
    sha256 = _field(e, "image_sha256")
    return [
        ProductListed(
            **_common(e, "ProductListed"),
            product_id=uuid.UUID(e.aggregate_id),
            title=_field(e, "title"),
            description=_field(e, "description"),
            category=_field(e, "category"),
            brand=_field(e, "brand"),
            price=_money(e, "price", "currency"),
            image_path=f"/blobs/{sha256}" if sha256 else None,
        )
    ]


def _price_changed(e: EventEnvelope, _: StateLookup) -> list[PublicEvent]:
    return [
        PriceChanged(
            **_common(e, "PriceChanged"),
            product_id=uuid.UUID(e.aggregate_id),
            price=_money(e, "price", "currency"),
        )
    ]


def _product_delisted(e: EventEnvelope, _: StateLookup) -> list[PublicEvent]:
    return [
        ProductDelisted(
            **_common(e, "ProductDelisted"),
            product_id=uuid.UUID(e.aggregate_id),
            reason=_field(e, "reason"),
        )
    ]


# -- orders ----------------------------------------------------------------------------------


def _order_confirmed(e: EventEnvelope, lookup: StateLookup) -> list[PublicEvent]:
    facts = lookup.order_at(uuid.UUID(e.aggregate_id), e.aggregate_version)
    return [
        OrderConfirmed(
            **_common(e, "OrderConfirmed"),
            order_id=uuid.UUID(e.aggregate_id),
            lines=facts.lines,
            total=facts.total,
        )
    ]


# -- ateliers --------------------------------------------------------------------------------


def _match_requested(e: EventEnvelope, _: StateLookup) -> list[PublicEvent]:
    budget = _money(e, "budget", "currency")
    messages: list[PublicEvent] = []
    for candidate in _field(e, "candidates"):
        atelier_id = str(candidate["atelier_id"])
        messages.append(
            MatchRequested(
                **_common(e, "MatchRequested", atelier_id),
                match_id=uuid.UUID(e.aggregate_id),
                design_id=uuid.UUID(str(_field(e, "design_id"))),
                atelier_id=uuid.UUID(atelier_id),
                rank=int(candidate["rank"]),
                score=float(candidate["score"]),
                category=_field(e, "category"),
                complexity=int(_field(e, "complexity")),
                budget=budget,
                distance_km=candidate.get("distance_km"),
            )
        )
    return messages


def _match_accepted(e: EventEnvelope, _: StateLookup) -> list[PublicEvent]:
    atelier_id = str(_field(e, "atelier_id"))
    return [
        MatchAccepted(
            **_common(e, "MatchAccepted", atelier_id),
            match_id=uuid.UUID(e.aggregate_id),
            design_id=uuid.UUID(str(_field(e, "design_id"))),
            atelier_id=uuid.UUID(atelier_id),
            quote_id=str(_field(e, "quote_id")),
            price=_money(e, "price", "currency"),
            lead_time_days=int(_field(e, "lead_time_days")),
        )
    ]


def _key(internal: type[Any]) -> tuple[str, str]:
    """(context, event type) as the codec names them, e.g. ('catalog', 'PriceChanged')."""
    parts = internal.__module__.split(".")
    context = parts[1] if len(parts) > 2 and parts[0] == "domain" else parts[-1]
    return context, internal.__name__


TRANSLATIONS: dict[tuple[str, str], Translation] = {
    _key(t.internal): t
    for t in (
        Translation(
            Product.ProductListed,
            ("title", "description", "category", "brand", "price", "currency", "image_sha256"),
            _product_listed,
        ),
        Translation(Product.PriceChanged, ("price", "currency"), _price_changed),
        Translation(Product.ProductDelisted, ("reason",), _product_delisted),
        Translation(Order.OrderConfirmed, (), _order_confirmed),
        Translation(
            AtelierMatch.MatchRequested,
            ("design_id", "category", "complexity", "budget", "currency", "candidates"),
            _match_requested,
        ),
        Translation(
            AtelierMatch.MatchAccepted,
            ("atelier_id", "design_id", "quote_id", "price", "currency", "lead_time_days"),
            _match_accepted,
        ),
    )
}
"""Which internal events partners hear about; every other event stays internal."""

PUBLISHED_CONTEXTS: tuple[str, ...] = tuple(sorted({context for context, _ in TRANSLATIONS}))


def translate(envelope: EventEnvelope, lookup: StateLookup) -> list[Outgoing]:
    """The public messages for one internal event (none for most events)."""
    translation = TRANSLATIONS.get((envelope.context, envelope.type))
    if translation is None:
        return []
    return [Outgoing(m.subject(), m) for m in translation.build(envelope, lookup)]


class AggregateLookup:
    """StateLookup over the event store (the orders Application's repository)."""

    def __init__(self, orders: Any) -> None:
        self._orders = orders

    def order_at(self, order_id: uuid.UUID, version: int) -> OrderFacts:
        order = self._orders.repository.get(order_id, version=version)
        return OrderFacts(
            lines=[
                OrderLine(
                    product_id=uuid.UUID(line.product_id),
                    quantity=line.quantity,
                    unit_price=Money(amount=line.unit_price, currency=line.currency),
                )
                for line in order.lines
            ],
            total=Money(amount=order.total.amount, currency=order.total.currency),
        )
