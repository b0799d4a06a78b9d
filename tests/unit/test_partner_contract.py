"""Partner contract v1: translation from real internal events, frozen public shapes, and the
JSON Schema (served, and kept in docs/) that every translated message validates against."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import jsonschema
import msgspec
import pytest

from domain.ateliers.aggregates import AtelierMatch, atelier_id_for
from domain.ateliers.matching import AtelierProfile, DesignRequirements, rank_ateliers
from domain.ateliers.values import Capabilities, GeoPoint, Location, PriceBand
from domain.catalog.aggregates import Product
from domain.orders.aggregates import Order, OrderLine
from domain.shared.metadata import EventMetadata, bound_metadata
from domain.shared.money import Money
from infrastructure.messaging.codec import EventEnvelope, envelope_of
from interfaces.partners.contract import MESSAGE_TYPES, PublicEvent, decode_message
from interfaces.partners.schema import DOCS_SCHEMA_PATH, events_schema, schema_json
from interfaces.partners.translator import (
    TRANSLATIONS,
    AggregateLookup,
    TranslationError,
    translate,
)

ROOT = Path(__file__).resolve().parents[2]
PRODUCT_ID = uuid.UUID("00000000-0000-4000-8000-000000000001")
METADATA = EventMetadata("corr-1", "http:req-1", "merchant:m-1")

# The v1 contract, frozen: v1 may add optional fields, never drop, rename or require more.
V1_REQUIRED = {
    "ProductListed": {
        "type",
        "schema_version",
        "event_id",
        "occurred_at",
        "correlation_id",
        "product_id",
        "title",
        "description",
        "category",
        "brand",
        "price",
    },
    "PriceChanged": {
        "type",
        "schema_version",
        "event_id",
        "occurred_at",
        "correlation_id",
        "product_id",
        "price",
    },
    "ProductDelisted": {
        "type",
        "schema_version",
        "event_id",
        "occurred_at",
        "correlation_id",
        "product_id",
        "reason",
    },
    "OrderConfirmed": {
        "type",
        "schema_version",
        "event_id",
        "occurred_at",
        "correlation_id",
        "order_id",
        "lines",
        "total",
    },
    "MatchRequested": {
        "type",
        "schema_version",
        "event_id",
        "occurred_at",
        "correlation_id",
        "match_id",
        "design_id",
        "atelier_id",
        "rank",
        "score",
        "category",
        "complexity",
        "budget",
    },
    "MatchAccepted": {
        "type",
        "schema_version",
        "event_id",
        "occurred_at",
        "correlation_id",
        "match_id",
        "design_id",
        "atelier_id",
        "quote_id",
        "price",
        "lead_time_days",
    },
}


class Orders:
    """A fake orders Application: a repository that returns one order at any version."""

    def __init__(self, order: Order) -> None:
        self.repository = self
        self._order = order

    def get(self, order_id: uuid.UUID, version: int | None = None) -> Order:
        assert order_id == self._order.id
        return self._order


def envelopes(aggregate: Any, start: int = 1) -> list[EventEnvelope]:
    return [envelope_of(e, start + i) for i, e in enumerate(aggregate.collect_events())]


def product_envelopes() -> list[EventEnvelope]:
    with bound_metadata(METADATA):
        product = Product.list(
            title="Silk slip dress",
            description="Bias cut",
            category="Dresses",
            brand="Maison Lune",
            price=Money(12900, "EUR"),
            image_sha256="ab" * 32,
            product_id=PRODUCT_ID,
        )
        product.change_price(Money(9900, "EUR"))
        product.delist("season over")
    return envelopes(product)


def an_order() -> Order:
    with bound_metadata(METADATA):
        order = Order.place(
            customer_id="alice",
            lines=[OrderLine(str(PRODUCT_ID), "Silk slip dress", 2, 9900, "EUR")],
        )
        order.confirm()
    return order


def a_match() -> tuple[AtelierMatch, list[str]]:
    caps = Capabilities.of(
        categories=["dresses"],
        max_complexity=4,
        location=Location(GeoPoint(48.85, 2.35), "Paris"),
        price_band=PriceBand(10_000, 50_000, "EUR"),
        capacity_per_month=5,
    )
    ateliers = [str(atelier_id_for(p)) for p in ("p-a", "p-b")]
    design = DesignRequirements("dresses", 3, Money(30_000, "EUR"), GeoPoint(45.76, 4.83))
    with bound_metadata(METADATA):
        match = AtelierMatch.request(
            design_id=str(uuid.uuid4()),
            requested_by="designer-1",
            design=design,
            ranked=rank_ateliers(design, [AtelierProfile(a, caps) for a in ateliers], 3),
        )
        match.submit_quote(
            quote_id="q-1", atelier_id=ateliers[1], price=Money(27_000, "EUR"), lead_time_days=21
        )
        match.accept("q-1")
    return match, ateliers


def as_json(message: PublicEvent) -> dict[str, Any]:
    return json.loads(msgspec.json.encode(message))


def validator() -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(
        events_schema(), format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
    )


def test_catalog_events_translate_to_their_v1_messages() -> None:
    listed, repriced, delisted = (translate(e, None) for e in product_envelopes())  # type: ignore[arg-type]
    [out] = listed
    assert out.subject == "modiste.public.v1.catalog.product_listed"
    body = as_json(out.message)
    assert {k: body[k] for k in body if k not in ("event_id", "occurred_at")} == {
        "type": "ProductListed",
        "schema_version": 1,
        "correlation_id": "corr-1",
        "product_id": str(PRODUCT_ID),
        "title": "Silk slip dress",
        "description": "Bias cut",
        "category": "dresses",
        "brand": "Maison Lune",
        "price": {"amount": 12900, "currency": "EUR"},
        "image_path": "/blobs/" + "ab" * 32,
    }
    assert as_json(repriced[0].message)["price"] == {"amount": 9900, "currency": "EUR"}
    assert repriced[0].subject == "modiste.public.v1.catalog.price_changed"
    assert as_json(delisted[0].message)["reason"] == "season over"


def test_order_confirmed_reads_the_order_and_carries_no_customer_data() -> None:
    order = an_order()
    confirmed = envelopes(order)[1]
    [out] = translate(confirmed, AggregateLookup(Orders(order)))
    body = as_json(out.message)
    assert out.subject == "modiste.public.v1.orders.order_confirmed"
    assert body["lines"] == [
        {
            "product_id": str(PRODUCT_ID),
            "quantity": 2,
            "unit_price": {"amount": 9900, "currency": "EUR"},
        }
    ]
    assert body["total"] == {"amount": 19800, "currency": "EUR"}
    assert "alice" not in json.dumps(body)


def test_match_requested_goes_to_each_asked_atelier_on_its_own_subject() -> None:
    match, ateliers = a_match()
    requested, quoted, accepted = envelopes(match)
    outs = translate(requested, None)  # type: ignore[arg-type]
    assert sorted(o.subject for o in outs) == sorted(
        f"modiste.public.v1.ateliers.{a}.match_requested" for a in ateliers
    )
    assert {as_json(o.message)["atelier_id"] for o in outs} == set(ateliers)
    assert translate(quoted, None) == []  # type: ignore[arg-type]  # quotes stay internal
    [out] = translate(accepted, None)  # type: ignore[arg-type]
    assert out.subject == f"modiste.public.v1.ateliers.{ateliers[1]}.match_accepted"
    assert as_json(out.message)["price"] == {"amount": 27_000, "currency": "EUR"}


def test_event_ids_are_stable_per_internal_event_and_recipient() -> None:
    match, _ = a_match()
    requested = envelopes(match)[0]
    first = [o.msg_id for o in translate(requested, None)]  # type: ignore[arg-type]
    again = [o.msg_id for o in translate(requested, None)]  # type: ignore[arg-type]
    assert first == again and len(set(first)) == len(first)


def test_internal_events_partners_do_not_see_translate_to_nothing() -> None:
    with bound_metadata(METADATA):
        product = Product.list(
            title="t", description="", category="c", brand="b", price=Money(100, "EUR")
        )
        product.adjust_stock(5, "delivery")
    assert [translate(e, None) for e in envelopes(product)][1] == []  # type: ignore[arg-type]


@pytest.mark.parametrize("key", sorted(TRANSLATIONS))
def test_every_field_a_translation_reads_exists_on_the_internal_event(
    key: tuple[str, str],
) -> None:
    """Renaming an internal field fails here, before it can change what partners get."""
    translation = TRANSLATIONS[key]
    fields: set[str] = set()
    for cls in translation.internal.__mro__:
        fields |= set(getattr(cls, "__annotations__", {}))
    missing = set(translation.reads) - fields
    assert not missing, (
        f"{translation.internal.__qualname__} lost {missing}: the v1 translation reads them"
    )


def test_a_renamed_internal_field_is_a_translation_error_not_a_changed_message() -> None:
    envelope = product_envelopes()[1]  # PriceChanged
    data = dict(envelope.data)
    data["amount"] = data.pop("price")  # what an internal rename would do
    renamed = msgspec.structs.replace(envelope, data=data)
    with pytest.raises(TranslationError, match="'price'"):
        translate(renamed, None)  # type: ignore[arg-type]


def test_every_translated_message_validates_against_the_served_schema() -> None:
    order = an_order()
    match, _ = a_match()
    messages = [o.message for e in product_envelopes() for o in translate(e, None)]  # type: ignore[arg-type]
    messages += [o.message for o in translate(envelopes(order)[1], AggregateLookup(Orders(order)))]
    messages += [o.message for e in envelopes(match) for o in translate(e, None)]  # type: ignore[arg-type]
    assert {type(m).__name__ for m in messages} == {t.__name__ for t in MESSAGE_TYPES}
    check = validator()
    for message in messages:
        payload = msgspec.json.encode(message)
        check.validate(json.loads(payload))
        assert decode_message(payload) == message


def test_the_schema_rejects_what_breaks_v1() -> None:
    message = as_json(translate(product_envelopes()[1], None)[0].message)  # type: ignore[arg-type]
    check = validator()
    for broken in (
        {**message, "schema_version": 2},
        {**message, "type": "Unknown"},
        {k: v for k, v in message.items() if k != "price"},
        {**message, "price": {"amount": 9.5, "currency": "EUR"}},
    ):
        with pytest.raises(jsonschema.ValidationError):
            check.validate(broken)
    check.validate({**message, "a_field_added_later": True})  # v1 grows: ignore extras


def test_the_v1_shapes_are_frozen() -> None:
    schema = events_schema()
    for name, required in V1_REQUIRED.items():
        definition = schema["$defs"][name]
        assert set(definition["required"]) == required, name
        assert required <= set(definition["properties"]), name
    assert set(V1_REQUIRED) == {t.__name__ for t in MESSAGE_TYPES}
    assert all(
        "customer" not in p for d in schema["$defs"].values() for p in d.get("properties", {})
    )


def test_docs_hold_the_current_schema() -> None:
    """Regenerate with `modiste partners schema` after a (v1-compatible) contract change."""
    assert (ROOT / DOCS_SCHEMA_PATH).read_text() == schema_json()


def test_schema_lists_the_subject_of_every_message_type() -> None:
    subjects = events_schema()["x-subjects"]
    assert subjects["MatchRequested"] == "modiste.public.v1.ateliers.*.match_requested"
    assert all(s.startswith("modiste.public.v1.") for s in subjects.values())
