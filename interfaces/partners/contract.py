"""Partner event contract v1: the messages partners receive on ``modiste.public.v1.>``.

These Structs are the contract, not the internal events: a translator builds them from
internal envelopes, so renaming an internal event or field never changes what partners
get. Rules for v1, recorded in docs/adr/0012-public-partner-contract.md:

* every message carries ``type`` (the discriminator), ``schema_version`` (always 1 here),
  a unique ``event_id`` (drop duplicates by it: delivery is at least once) and
  ``occurred_at``;
* v1 only ever grows: new message types and new optional fields. Removing or renaming a
  field, or changing its meaning or type, is v2 on ``modiste.public.v2.>``, published
  side by side with v1 for a deprecation period;
* consumers ignore fields they do not know (the schema does not forbid them);
* money is integer minor units plus an ISO 4217 code, never a float;
* no customer data, ever; atelier messages go to that atelier's subject only.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, ClassVar, Literal

import msgspec
from msgspec import Meta

SCHEMA_VERSION = 1
PUBLIC_PREFIX_V1 = "modiste.public.v1"

SchemaVersion = Annotated[
    Literal[1], Meta(description="Version of the contract this message follows")
]
MinorUnits = Annotated[int, Meta(description="Integer amount in the currency's minor units")]
Currency = Annotated[str, Meta(pattern="^[A-Z]{3}$", description="ISO 4217 code, e.g. EUR")]


class Money(msgspec.Struct, frozen=True, kw_only=True):
    """An amount of money: integer minor units (cents for EUR) and a currency."""

    amount: MinorUnits
    currency: Currency


class PublicEvent(msgspec.Struct, frozen=True, kw_only=True, tag_field="type"):
    """Fields every v1 message has (the ``type`` tag names the message)."""

    schema_version: SchemaVersion
    event_id: Annotated[
        str, Meta(description="Unique per message; the same on redelivery: drop duplicates")
    ]
    occurred_at: Annotated[
        datetime, Meta(tz=True, description="When it happened (RFC 3339, with offset)")
    ]
    correlation_id: Annotated[
        str, Meta(description="Quote it to Modiste support to trace what caused this message")
    ]

    subject_template: ClassVar[str] = ""

    def subject(self) -> str:
        """The NATS subject this message is published on."""
        return self.subject_template.format(message=self)


# -- catalog ---------------------------------------------------------------------------------


class ProductListed(PublicEvent, frozen=True, kw_only=True, tag="ProductListed"):
    """A product went on sale."""

    subject_template: ClassVar[str] = f"{PUBLIC_PREFIX_V1}.catalog.product_listed"

    product_id: uuid.UUID
    title: str
    description: str
    category: str
    brand: str
    price: Money
    image_path: Annotated[
        str | None, Meta(description="Path of the product image on the Modiste API, if any")
    ] = None


class PriceChanged(PublicEvent, frozen=True, kw_only=True, tag="PriceChanged"):
    """A product's price changed."""

    subject_template: ClassVar[str] = f"{PUBLIC_PREFIX_V1}.catalog.price_changed"

    product_id: uuid.UUID
    price: Money


class ProductDelisted(PublicEvent, frozen=True, kw_only=True, tag="ProductDelisted"):
    """A product is no longer sold."""

    subject_template: ClassVar[str] = f"{PUBLIC_PREFIX_V1}.catalog.product_delisted"

    product_id: uuid.UUID
    reason: str


# -- orders ----------------------------------------------------------------------------------


class OrderLine(msgspec.Struct, frozen=True, kw_only=True):
    product_id: uuid.UUID
    quantity: Annotated[int, Meta(ge=1)]
    unit_price: Money


class OrderConfirmed(PublicEvent, frozen=True, kw_only=True, tag="OrderConfirmed"):
    """An order's stock is reserved and it will be fulfilled. Carries no customer data."""

    subject_template: ClassVar[str] = f"{PUBLIC_PREFIX_V1}.orders.order_confirmed"

    order_id: uuid.UUID
    lines: list[OrderLine]
    total: Money


# -- ateliers --------------------------------------------------------------------------------


class MatchRequested(PublicEvent, frozen=True, kw_only=True, tag="MatchRequested"):
    """Your atelier is asked to quote for making a design (sent to the addressed atelier
    only). Quote with ``POST /atelier-matches/{match_id}/quotes``."""

    subject_template: ClassVar[str] = (
        PUBLIC_PREFIX_V1 + ".ateliers.{message.atelier_id}.match_requested"
    )

    match_id: uuid.UUID
    design_id: uuid.UUID
    atelier_id: Annotated[uuid.UUID, Meta(description="The atelier this request is for")]
    rank: Annotated[int, Meta(ge=1, description="Your place among the ateliers asked")]
    score: Annotated[float, Meta(ge=0, le=1, description="Your matching score")]
    category: str
    complexity: Annotated[int, Meta(ge=1, le=5)]
    budget: Annotated[Money, Meta(description="Most the designer pays per piece")]
    distance_km: Annotated[
        float | None, Meta(description="From the designer, when the designer gave a location")
    ] = None


class MatchAccepted(PublicEvent, frozen=True, kw_only=True, tag="MatchAccepted"):
    """The designer accepted your atelier's quote (sent to that atelier only)."""

    subject_template: ClassVar[str] = (
        PUBLIC_PREFIX_V1 + ".ateliers.{message.atelier_id}.match_accepted"
    )

    match_id: uuid.UUID
    design_id: uuid.UUID
    atelier_id: uuid.UUID
    quote_id: str
    price: Money
    lead_time_days: Annotated[int, Meta(ge=1)]


PublicMessage = (
    ProductListed | PriceChanged | ProductDelisted | OrderConfirmed | MatchRequested | MatchAccepted
)
"""Every v1 message, discriminated by ``type``."""

MESSAGE_TYPES: tuple[type[PublicEvent], ...] = (
    ProductListed,
    PriceChanged,
    ProductDelisted,
    OrderConfirmed,
    MatchRequested,
    MatchAccepted,
)

_decoder = msgspec.json.Decoder(PublicMessage)
_encoder = msgspec.json.Encoder()


def encode_message(message: PublicEvent) -> bytes:
    return _encoder.encode(message)


def decode_message(payload: bytes) -> PublicEvent:
    """Decode and validate one message (raises msgspec.ValidationError if it breaks v1)."""
    message: PublicEvent = _decoder.decode(payload)
    return message


def subject_pattern(message_type: type[PublicEvent]) -> str:
    """The subject of a message type with ``*`` for the per-recipient token."""
    return message_type.subject_template.replace("{message.atelier_id}", "*")
