"""msgspec request and response bodies. Domain objects never go on the wire."""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

import msgspec
from msgspec import Meta

Title = Annotated[str, Meta(min_length=1, max_length=200, description="Shown to customers")]
Label = Annotated[str, Meta(min_length=1, max_length=100)]
MinorUnits = Annotated[
    int, Meta(gt=0, le=10**12, description="Integer amount in the currency's minor units")
]
CurrencyCode = Annotated[
    str, Meta(pattern="^[A-Z]{3}$", description="ISO 4217 code, e.g. EUR", examples=["EUR"])
]
Reason = Annotated[str, Meta(max_length=200)]


class MoneyBody(msgspec.Struct, frozen=True):
    amount: int
    currency: str


class ProductCreate(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    title: Title
    description: Annotated[str, Meta(max_length=5000)] = ""
    category: Label
    brand: Label
    price: MinorUnits
    currency: CurrencyCode


class PriceChange(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    price: MinorUnits
    currency: CurrencyCode


class StockAdjustment(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    delta: Annotated[
        int, Meta(ge=-1_000_000, le=1_000_000, description="Units received (+) or removed (-)")
    ]
    reason: Reason = ""


class Delisting(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    reason: Reason = ""


class StockLevels(msgspec.Struct, frozen=True):
    on_hand: int
    reserved: int
    available: int


class ProductOut(msgspec.Struct, kw_only=True):
    id: uuid.UUID
    version: int
    title: str
    description: str
    category: str
    brand: str
    price: MoneyBody
    stock: StockLevels
    listed: bool
    image_url: str | None = None
    position: int | None = None


class OrderLineIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    product_id: uuid.UUID
    quantity: Annotated[int, Meta(ge=1, le=1000)]


class OrderCreate(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    currency: CurrencyCode
    lines: Annotated[list[OrderLineIn], Meta(min_length=1, max_length=100)]
    campaign_code: Annotated[str, Meta(min_length=1, max_length=64)] | None = None


class PaymentCreate(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    amount: MinorUnits
    currency: CurrencyCode
    method: Literal["card", "bank_transfer", "wallet", "voucher"]
    provider_ref: Annotated[str, Meta(min_length=1, max_length=200)]


class Cancellation(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    reason: Reason = ""


class OrderLineOut(msgspec.Struct, frozen=True):
    product_id: str
    title: str
    quantity: int
    unit_price: MoneyBody
    subtotal: MoneyBody


class OrderOut(msgspec.Struct, kw_only=True):
    id: uuid.UUID
    version: int
    customer_id: str
    status: str
    lines: list[OrderLineOut]
    total: MoneyBody
    paid: MoneyBody
    refunded: MoneyBody
    outstanding: MoneyBody
    campaign_code: str | None
    rejection_reason: str | None = None
    cancellation_reason: str | None = None
    position: int | None = None


class DependencyHealth(msgspec.Struct, frozen=True):
    ok: bool
    detail: str
    latency_ms: float | None = None


class ConsumerHealth(msgspec.Struct, kw_only=True):
    """How far one consumer is behind the event store (see projections/monitoring.py)."""

    source: Literal["read_model", "jetstream"]
    lag_events: int
    lag_seconds: float | None = None
    position: int | None = None
    pending_messages: int | None = None
    dead_letters: int = 0


class RelayHealth(msgspec.Struct, kw_only=True):
    position: int
    lag_events: int


class AlertSummary(msgspec.Struct, kw_only=True):
    kind: str
    subject: str
    severity: str
    since: str | None
    value: float | None


class AlertOut(msgspec.Struct, kw_only=True):
    id: uuid.UUID
    kind: str
    subject: str
    active: bool
    severity: str
    detail: str
    value: float | None
    times_raised: int
    raised_at: str | None
    resolved_at: str | None
    updated_at: str


class AlertList(msgspec.Struct, kw_only=True):
    items: list[AlertOut]
    position: int


class HealthOut(msgspec.Struct, kw_only=True):
    status: Literal["ok", "degraded"]
    dependencies: dict[str, DependencyHealth]
    disk: dict[str, float]
    consumers: dict[str, ConsumerHealth] = msgspec.field(default_factory=dict)
    event_store_head: int | None = None
    relay: RelayHealth | None = None
    dead_letters: int = 0
    alerts: list[AlertSummary] = msgspec.field(default_factory=list)


class ProductSummary(msgspec.Struct, kw_only=True):
    id: uuid.UUID
    title: str
    category: str
    brand: str
    price: MoneyBody
    stock: StockLevels
    listed: bool
    image_url: str | None
    version: int


class ProductPage(msgspec.Struct, kw_only=True):
    items: list[ProductSummary]
    next_cursor: str | None
    position: int = msgspec.field(name="position")


class OrderSummary(msgspec.Struct, kw_only=True):
    id: uuid.UUID
    customer_id: str
    status: str
    total: MoneyBody
    paid: MoneyBody
    refunded: MoneyBody
    item_count: int
    campaign_code: str | None
    placed_at: str
    version: int


class OrderPage(msgspec.Struct, kw_only=True):
    items: list[OrderSummary]
    next_cursor: str | None
    position: int
