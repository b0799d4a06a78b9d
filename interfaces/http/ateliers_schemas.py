"""Request and response bodies of the ateliers API (msgspec), and their presenters."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

import msgspec
from msgspec import Meta

from domain.ateliers.aggregates import Atelier, AtelierMatch, Quote
from domain.ateliers.values import ContactDetails
from interfaces.http.schemas import CurrencyCode, Label, MinorUnits, MoneyBody

Latitude = Annotated[float, Meta(ge=-90, le=90, description="Decimal degrees, WGS 84")]
Longitude = Annotated[float, Meta(ge=-180, le=180, description="Decimal degrees, WGS 84")]
Complexity = Annotated[
    int, Meta(ge=1, le=5, description="1 = simple (a T-shirt) ... 5 = couture (a beaded gown)")
]
Categories = Annotated[list[Label], Meta(min_length=1, max_length=20)]
Capacity = Annotated[int, Meta(ge=1, le=10_000, description="Orders the atelier takes a month")]
PartnerId = Annotated[str, Meta(min_length=1, max_length=200)]


class LocationIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    latitude: Latitude
    longitude: Longitude
    city: Annotated[str, Meta(min_length=1, max_length=100)]


class PointIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    latitude: Latitude
    longitude: Longitude


class PriceBandIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    min: MinorUnits
    max: MinorUnits
    currency: CurrencyCode


class ContactIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    email: Annotated[str, Meta(min_length=3, max_length=254)]
    phone: Annotated[str, Meta(min_length=6, max_length=32)]


class CapabilitiesIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    categories: Categories
    max_complexity: Complexity
    location: LocationIn
    price_band: PriceBandIn
    capacity_per_month: Capacity


class AtelierCreate(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    name: Annotated[str, Meta(min_length=1, max_length=200)]
    partner_id: Annotated[
        PartnerId | None,
        Meta(
            description="The partner account acting for the atelier (operators only; "
            "a partner registers itself)"
        ),
    ] = None
    categories: Categories
    max_complexity: Complexity
    location: LocationIn
    price_band: PriceBandIn
    capacity_per_month: Capacity
    contact: ContactIn


class LocationOut(msgspec.Struct, frozen=True):
    latitude: float
    longitude: float
    city: str


class PriceBandOut(msgspec.Struct, frozen=True):
    min: int
    max: int
    currency: str


class ContactOut(msgspec.Struct, frozen=True):
    email: str
    phone: str


class AtelierOut(msgspec.Struct, kw_only=True):
    id: uuid.UUID
    version: int
    name: str
    partner_id: str
    categories: list[str]
    max_complexity: int
    location: LocationOut
    price_band: PriceBandOut
    capacity_per_month: int
    contact: ContactOut | None = None
    position: int | None = None


class AtelierSummary(msgspec.Struct, kw_only=True):
    id: uuid.UUID
    name: str
    categories: list[str]
    max_complexity: int
    location: LocationOut
    price_band: PriceBandOut
    capacity_per_month: int
    version: int


class AtelierPage(msgspec.Struct, kw_only=True):
    items: list[AtelierSummary]
    next_cursor: str | None
    position: int


class BudgetIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    max: Annotated[int, Meta(gt=0, le=10**12, description="Most the designer pays per piece")]
    currency: CurrencyCode


class MatchCreate(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Until designs carry them, the design's category and complexity come with the request."""

    category: Label
    complexity: Complexity
    budget: BudgetIn
    location: Annotated[
        PointIn | None, Meta(description="Where the designer is; nearer ateliers score higher")
    ] = None
    limit: Annotated[int, Meta(ge=1, le=10, description="How many ateliers to ask")] = 3


class ScoreComponentsOut(msgspec.Struct, frozen=True):
    category: float
    complexity: float
    distance: float
    budget: float
    capacity: float


class CandidateOut(msgspec.Struct, kw_only=True):
    atelier_id: uuid.UUID
    rank: int
    score: float
    components: ScoreComponentsOut
    distance_km: float | None


class QuoteCreate(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    price: MinorUnits
    currency: CurrencyCode
    lead_time_days: Annotated[int, Meta(ge=1, le=365)]
    note: Annotated[str, Meta(max_length=1000)] = ""


class Acceptance(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    quote_id: Annotated[str, Meta(min_length=1, max_length=64)]


class QuoteOut(msgspec.Struct, kw_only=True):
    quote_id: str
    atelier_id: uuid.UUID
    price: MoneyBody
    lead_time_days: int
    note: str


class AcceptedContactOut(msgspec.Struct, kw_only=True):
    atelier_id: uuid.UUID
    name: str
    email: str
    phone: str


class MatchOut(msgspec.Struct, kw_only=True):
    id: uuid.UUID
    version: int
    design_id: uuid.UUID
    requested_by: str
    status: str
    category: str
    complexity: int
    budget: MoneyBody
    candidates: list[CandidateOut]
    quotes: list[QuoteOut]
    accepted_quote: QuoteOut | None = None
    contact: Annotated[
        AcceptedContactOut | None,
        Meta(description="The accepted atelier's contact: for the designer and the atelier"),
    ] = None
    position: int | None = None


# -- presenters -------------------------------------------------------------------------------


def atelier_out(
    atelier: Atelier, position: int | None = None, contact: ContactDetails | None = None
) -> AtelierOut:
    caps = atelier.capabilities
    return AtelierOut(
        id=atelier.id,
        version=atelier.version,
        name=atelier.name,
        partner_id=atelier.partner_id,
        categories=list(caps.categories),
        max_complexity=caps.max_complexity,
        location=LocationOut(
            caps.location.point.latitude, caps.location.point.longitude, caps.location.city
        ),
        price_band=PriceBandOut(
            caps.price_band.minimum, caps.price_band.maximum, caps.price_band.currency
        ),
        capacity_per_month=caps.capacity_per_month,
        contact=ContactOut(contact.email, contact.phone) if contact else None,
        position=position,
    )


def atelier_summary(row: dict[str, Any]) -> AtelierSummary:
    return AtelierSummary(
        id=row["atelier_id"],
        name=row["name"],
        categories=list(row["categories"]),
        max_complexity=row["max_complexity"],
        location=LocationOut(row["latitude"], row["longitude"], row["city"]),
        price_band=PriceBandOut(row["price_min"], row["price_max"], row["currency"].strip()),
        capacity_per_month=row["capacity_per_month"],
        version=row["version"],
    )


def quote_out(quote: Quote) -> QuoteOut:
    return QuoteOut(
        quote_id=quote.quote_id,
        atelier_id=uuid.UUID(quote.atelier_id),
        price=MoneyBody(quote.price.amount, quote.price.currency),
        lead_time_days=quote.lead_time_days,
        note=quote.note,
    )


def candidate_out(record: dict[str, Any]) -> CandidateOut:
    return CandidateOut(
        atelier_id=uuid.UUID(record["atelier_id"]),
        rank=record["rank"],
        score=record["score"],
        components=ScoreComponentsOut(**record["components"]),
        distance_km=record["distance_km"],
    )


def match_out(
    match: AtelierMatch,
    *,
    position: int | None = None,
    only_atelier: str | None = None,
    contact: AcceptedContactOut | None = None,
) -> MatchOut:
    """The match as one party sees it: ``only_atelier`` limits it to one atelier's share
    (an atelier never sees the other candidates or their quotes)."""
    candidates = [
        c for c in match.candidates if only_atelier is None or c["atelier_id"] == only_atelier
    ]
    quotes = [q for q in match.current if only_atelier is None or q.atelier_id == only_atelier]
    accepted = match.accepted_quote
    if accepted is not None and only_atelier not in (None, accepted.atelier_id):
        accepted = None
    return MatchOut(
        id=match.id,
        version=match.version,
        design_id=uuid.UUID(match.design_id),
        requested_by=match.requested_by,
        status=match.status.value,
        category=match.category,
        complexity=match.complexity,
        budget=MoneyBody(match.budget.amount, match.budget.currency),
        candidates=[candidate_out(c) for c in candidates],
        quotes=[quote_out(q) for q in quotes],
        accepted_quote=quote_out(accepted) if accepted else None,
        contact=contact,
        position=position,
    )
