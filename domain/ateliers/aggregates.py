"""The ateliers context: an Atelier and its capabilities; an AtelierMatch of a design.

Contact details arrive already sealed (encrypted by the application layer): the domain
stores them as opaque strings and never sees the plaintext.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from domain.ateliers.matching import AtelierScore, DesignRequirements
from domain.ateliers.values import Capabilities
from domain.shared.aggregate import ModisteAggregate
from domain.shared.errors import InvariantViolationError, ValidationError
from domain.shared.money import Money

ATELIER_NAMESPACE = uuid.UUID("3d0f7a52-8a8e-4c55-9d0b-1f6f0e7c2b44")
MAX_NAME_LENGTH = 200
MAX_CANDIDATES = 10
MAX_QUOTES_PER_ATELIER = 20
MAX_LEAD_TIME_DAYS = 365
MAX_NOTE_LENGTH = 1000


def atelier_id_for(partner_id: str) -> uuid.UUID:
    """One atelier per partner account: its id is derived from the partner's id."""
    return uuid.uuid5(ATELIER_NAMESPACE, partner_id)


class Atelier(ModisteAggregate):
    """A workshop that makes garments for Modiste's designers, acting as a partner."""

    class AtelierRegistered(ModisteAggregate.Created):
        name: str
        partner_id: str
        categories: list[str]
        max_complexity: int
        latitude: float
        longitude: float
        city: str
        price_min: int
        price_max: int
        currency: str
        capacity_per_month: int
        email_sealed: str
        phone_sealed: str

        def apply(self, aggregate: Any) -> None:
            aggregate.capabilities = Capabilities.from_event_fields(self)

    class CapabilitiesUpdated(ModisteAggregate.Event):
        categories: list[str]
        max_complexity: int
        latitude: float
        longitude: float
        city: str
        price_min: int
        price_max: int
        currency: str
        capacity_per_month: int

        def apply(self, aggregate: Any) -> None:
            aggregate.capabilities = Capabilities.from_event_fields(self)

    def __init__(self, name: str, partner_id: str, email_sealed: str, phone_sealed: str) -> None:
        self.name = name
        self.partner_id = partner_id
        self.email_sealed = email_sealed
        self.phone_sealed = phone_sealed
        self.capabilities: Capabilities

    @classmethod
    def register(
        cls,
        *,
        name: str,
        partner_id: str,
        capabilities: Capabilities,
        email_sealed: str,
        phone_sealed: str,
    ) -> Atelier:
        """Register the atelier that ``partner_id`` acts for (one per partner)."""
        cleaned = name.strip()
        if not cleaned:
            raise ValidationError("name must not be empty", "name")
        if len(cleaned) > MAX_NAME_LENGTH:
            raise ValidationError(f"name is at most {MAX_NAME_LENGTH} characters", "name")
        if not partner_id.strip():
            raise ValidationError("an atelier acts as a partner account", "partner_id")
        if not email_sealed or not phone_sealed:
            raise ValidationError("contact details are stored sealed", "contact")
        atelier: Atelier = cls._create(
            cls.AtelierRegistered,
            id=atelier_id_for(partner_id),
            name=cleaned,
            partner_id=partner_id,
            email_sealed=email_sealed,
            phone_sealed=phone_sealed,
            **capabilities.as_event_fields(),
        )
        return atelier

    def update_capabilities(self, capabilities: Capabilities) -> None:
        """Change what the atelier makes; a no-op when nothing changes."""
        if capabilities == self.capabilities:
            return
        self.trigger_event(self.CapabilitiesUpdated, **capabilities.as_event_fields())


class MatchStatus(StrEnum):
    REQUESTED = "requested"
    QUOTED = "quoted"
    ACCEPTED = "accepted"


@dataclass(frozen=True)
class Quote:
    quote_id: str
    atelier_id: str
    price: Money
    lead_time_days: int
    note: str


def candidate_record(rank: int, scored: AtelierScore) -> dict[str, Any]:
    """A ranked atelier as MatchRequested stores it (scores rounded to 4 places)."""
    c = scored.components
    return {
        "atelier_id": scored.atelier_id,
        "rank": rank,
        "score": round(scored.score, 4),
        "components": {
            "category": round(c.category, 4),
            "complexity": round(c.complexity, 4),
            "distance": round(c.distance, 4),
            "budget": round(c.budget, 4),
            "capacity": round(c.capacity, 4),
        },
        "distance_km": None if c.distance_km is None else round(c.distance_km, 1),
    }


class AtelierMatch(ModisteAggregate):
    """A designer's request for ateliers to make a design: ranked candidates, their quotes,
    and the one quote the designer accepts."""

    class MatchRequested(ModisteAggregate.Created):
        design_id: str
        requested_by: str
        category: str
        complexity: int
        budget: int
        currency: str
        latitude: float | None
        longitude: float | None
        candidates: list[dict[str, Any]]

    class QuoteSubmitted(ModisteAggregate.Event):
        quote_id: str
        atelier_id: str
        price: int
        currency: str
        lead_time_days: int
        note: str

        def apply(self, aggregate: Any) -> None:
            quote = Quote(
                self.quote_id,
                self.atelier_id,
                Money(self.price, self.currency),
                self.lead_time_days,
                self.note,
            )
            aggregate.quotes[self.quote_id] = quote
            aggregate.current_quotes[self.atelier_id] = self.quote_id
            aggregate.status = MatchStatus.QUOTED

    class MatchAccepted(ModisteAggregate.Event):
        quote_id: str
        atelier_id: str
        design_id: str
        requested_by: str
        price: int
        currency: str
        lead_time_days: int

        def apply(self, aggregate: Any) -> None:
            aggregate.status = MatchStatus.ACCEPTED
            aggregate.accepted_quote_id = self.quote_id

    def __init__(
        self,
        design_id: str,
        requested_by: str,
        category: str,
        complexity: int,
        budget: int,
        currency: str,
        latitude: float | None,
        longitude: float | None,
        candidates: list[dict[str, Any]],
    ) -> None:
        self.design_id = design_id
        self.requested_by = requested_by
        self.category = category
        self.complexity = complexity
        self.budget = Money(budget, currency)
        self.location = None if latitude is None else (latitude, longitude)
        self.candidates = [dict(c) for c in candidates]
        self.status = MatchStatus.REQUESTED
        self.quotes: dict[str, Quote] = {}
        self.current_quotes: dict[str, str] = {}
        self.accepted_quote_id: str | None = None

    @classmethod
    def request(
        cls,
        *,
        design_id: str,
        requested_by: str,
        design: DesignRequirements,
        ranked: list[AtelierScore],
        match_id: uuid.UUID | None = None,
    ) -> AtelierMatch:
        """Ask the ranked ateliers (best first, eligible only) to quote for a design."""
        if not requested_by:
            raise ValidationError("a match is requested by a designer", "requested_by")
        if not ranked:
            raise ValidationError(
                f"no registered atelier makes {design.category!r} at complexity "
                f"{design.complexity} with capacity left",
                "category",
            )
        if len(ranked) > MAX_CANDIDATES:
            raise ValidationError(f"at most {MAX_CANDIDATES} ateliers are asked", "limit")
        if any(not s.eligible for s in ranked):
            raise InvariantViolationError("only eligible ateliers are asked")
        if design.budget.amount <= 0:
            raise ValidationError("the budget is a positive amount", "budget.max")
        match: AtelierMatch = cls._create(
            cls.MatchRequested,
            id=match_id or uuid.uuid4(),
            design_id=design_id,
            requested_by=requested_by,
            category=design.category,
            complexity=design.complexity,
            budget=design.budget.amount,
            currency=design.budget.currency,
            latitude=design.location.latitude if design.location else None,
            longitude=design.location.longitude if design.location else None,
            candidates=[candidate_record(rank, s) for rank, s in enumerate(ranked, start=1)],
        )
        return match

    # -- commands ------------------------------------------------------------------------

    def submit_quote(
        self,
        *,
        quote_id: str,
        atelier_id: str,
        price: Money,
        lead_time_days: int,
        note: str = "",
    ) -> bool:
        """An asked atelier quotes (a later quote replaces its earlier one).

        Returns False when ``quote_id`` was recorded before (an idempotent retry).
        """
        if quote_id in self.quotes:
            return False
        if self.status is MatchStatus.ACCEPTED:
            raise InvariantViolationError("the match is accepted: it takes no more quotes")
        if not self.is_candidate(atelier_id):
            raise InvariantViolationError(f"atelier {atelier_id} was not asked to quote")
        if price.currency != self.budget.currency:
            raise ValidationError(
                f"quote in {self.budget.currency}, the currency of the request", "currency"
            )
        if price.amount <= 0:
            raise ValidationError("a quoted price is positive", "price")
        if not 1 <= lead_time_days <= MAX_LEAD_TIME_DAYS:
            raise ValidationError(
                f"lead time is between 1 and {MAX_LEAD_TIME_DAYS} days", "lead_time_days"
            )
        if sum(1 for q in self.quotes.values() if q.atelier_id == atelier_id) >= (
            MAX_QUOTES_PER_ATELIER
        ):
            raise InvariantViolationError(
                f"an atelier revises its quote at most {MAX_QUOTES_PER_ATELIER} times"
            )
        self.trigger_event(
            self.QuoteSubmitted,
            quote_id=quote_id,
            atelier_id=atelier_id,
            price=price.amount,
            currency=price.currency,
            lead_time_days=lead_time_days,
            note=note.strip()[:MAX_NOTE_LENGTH],
        )
        return True

    def accept(self, quote_id: str) -> None:
        """The designer accepts an atelier's current quote (repeating it is a no-op)."""
        if self.status is MatchStatus.ACCEPTED:
            if quote_id == self.accepted_quote_id:
                return
            raise InvariantViolationError("the match already accepted another quote")
        quote = self.quotes.get(quote_id)
        if quote is None:
            raise ValidationError(f"quote {quote_id} is not one of this match", "quote_id")
        if self.current_quotes.get(quote.atelier_id) != quote_id:
            raise InvariantViolationError("that quote was replaced by a newer one")
        self.trigger_event(
            self.MatchAccepted,
            quote_id=quote_id,
            atelier_id=quote.atelier_id,
            design_id=self.design_id,
            requested_by=self.requested_by,
            price=quote.price.amount,
            currency=quote.price.currency,
            lead_time_days=quote.lead_time_days,
        )

    # -- queries -------------------------------------------------------------------------

    def is_candidate(self, atelier_id: str) -> bool:
        return any(c["atelier_id"] == atelier_id for c in self.candidates)

    @property
    def accepted_quote(self) -> Quote | None:
        return self.quotes.get(self.accepted_quote_id) if self.accepted_quote_id else None

    @property
    def current(self) -> list[Quote]:
        """Each atelier's latest quote, in the order the ateliers were ranked."""
        order = {c["atelier_id"]: c["rank"] for c in self.candidates}
        latest = [self.quotes[q] for q in self.current_quotes.values()]
        return sorted(latest, key=lambda q: order.get(q.atelier_id, 0))
