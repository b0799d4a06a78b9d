"""Value objects of the ateliers context: where an atelier is, what it makes, what it costs."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from domain.shared.errors import ValidationError
from domain.shared.money import Money, validate_currency

MIN_COMPLEXITY = 1
MAX_COMPLEXITY = 5
MAX_CATEGORIES = 20
MAX_CAPACITY_PER_MONTH = 10_000


def normalise_category(value: str, field: str = "categories") -> str:
    """Categories compare case-insensitively and without surrounding blanks."""
    cleaned = value.strip().lower()
    if not cleaned:
        raise ValidationError("a category must not be empty", field)
    if len(cleaned) > 100:
        raise ValidationError("a category is at most 100 characters", field)
    return cleaned


def require_complexity(value: int, field: str = "complexity") -> int:
    """Complexity of a garment on a 1 (simple) to 5 (couture) scale."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValidationError("complexity is a whole number", field)
    if not MIN_COMPLEXITY <= value <= MAX_COMPLEXITY:
        raise ValidationError(f"complexity is between {MIN_COMPLEXITY} and {MAX_COMPLEXITY}", field)
    return value


@dataclass(frozen=True)
class GeoPoint:
    """A WGS 84 position in decimal degrees."""

    latitude: float
    longitude: float

    def __post_init__(self) -> None:
        for name, value, bound in (
            ("latitude", self.latitude, 90.0),
            ("longitude", self.longitude, 180.0),
        ):
            if not isinstance(value, (int, float)) or not math.isfinite(value):
                raise ValidationError(f"{name} must be a finite number", f"location.{name}")
            if not -bound <= value <= bound:
                raise ValidationError(
                    f"{name} must be between -{bound:g} and {bound:g}", f"location.{name}"
                )


@dataclass(frozen=True)
class Location:
    """Where an atelier works: a point and the city it is in."""

    point: GeoPoint
    city: str

    def __post_init__(self) -> None:
        if not self.city.strip():
            raise ValidationError("city must not be empty", "location.city")
        if len(self.city) > 100:
            raise ValidationError("city is at most 100 characters", "location.city")


@dataclass(frozen=True)
class PriceBand:
    """What one piece usually costs at an atelier, in minor units of one currency."""

    minimum: int
    maximum: int
    currency: str

    def __post_init__(self) -> None:
        validate_currency(self.currency)
        Money(self.minimum, self.currency)  # integers only
        Money(self.maximum, self.currency)
        if self.minimum <= 0:
            raise ValidationError("the lowest price is positive", "price_band.min")
        if self.maximum < self.minimum:
            raise ValidationError(
                "the highest price is at least the lowest price", "price_band.max"
            )


@dataclass(frozen=True)
class Capabilities:
    """What an atelier can make, where, for how much, and how many pieces a month."""

    categories: tuple[str, ...]
    max_complexity: int
    location: Location
    price_band: PriceBand
    capacity_per_month: int

    @classmethod
    def of(
        cls,
        *,
        categories: list[str] | tuple[str, ...],
        max_complexity: int,
        location: Location,
        price_band: PriceBand,
        capacity_per_month: int,
    ) -> Capabilities:
        """Validate and normalise (categories lower-cased, de-duplicated, sorted)."""
        cleaned = sorted({normalise_category(c) for c in categories})
        if not cleaned:
            raise ValidationError("an atelier makes at least one category", "categories")
        if len(cleaned) > MAX_CATEGORIES:
            raise ValidationError(f"at most {MAX_CATEGORIES} categories", "categories")
        if isinstance(capacity_per_month, bool) or not isinstance(capacity_per_month, int):
            raise ValidationError("capacity is a whole number", "capacity_per_month")
        if not 1 <= capacity_per_month <= MAX_CAPACITY_PER_MONTH:
            raise ValidationError(
                f"capacity is between 1 and {MAX_CAPACITY_PER_MONTH} orders a month",
                "capacity_per_month",
            )
        return cls(
            categories=tuple(cleaned),
            max_complexity=require_complexity(max_complexity, "max_complexity"),
            location=location,
            price_band=price_band,
            capacity_per_month=capacity_per_month,
        )

    def as_event_fields(self) -> dict[str, Any]:
        """The flat, explicit fields AtelierRegistered and CapabilitiesUpdated store."""
        return {
            "categories": list(self.categories),
            "max_complexity": self.max_complexity,
            "latitude": float(self.location.point.latitude),
            "longitude": float(self.location.point.longitude),
            "city": self.location.city.strip(),
            "price_min": self.price_band.minimum,
            "price_max": self.price_band.maximum,
            "currency": self.price_band.currency,
            "capacity_per_month": self.capacity_per_month,
        }

    @classmethod
    def from_event_fields(cls, fields: Any) -> Capabilities:
        """The inverse of :meth:`as_event_fields` (reads attributes of a stored event)."""
        return cls(
            categories=tuple(fields.categories),
            max_complexity=fields.max_complexity,
            location=Location(GeoPoint(fields.latitude, fields.longitude), fields.city),
            price_band=PriceBand(fields.price_min, fields.price_max, fields.currency),
            capacity_per_month=fields.capacity_per_month,
        )


_EMAIL_MAX = 254
_PHONE_CHARACTERS = frozenset("0123456789+ ()-./")


@dataclass(frozen=True)
class ContactDetails:
    """How to reach an atelier. Sealed before it is stored; shown only to the parties of an
    accepted match."""

    email: str
    phone: str

    def __post_init__(self) -> None:
        email = self.email.strip()
        local, at, domain = email.rpartition("@")
        if (
            not at
            or not local
            or "." not in domain
            or domain.startswith(".")
            or domain.endswith(".")
            or len(email) > _EMAIL_MAX
            or any(ch.isspace() for ch in email)
        ):
            raise ValidationError("email must be an address like atelier@example.com", "email")
        phone = self.phone.strip()
        digits = sum(ch.isdigit() for ch in phone)
        if not 6 <= digits <= 20 or len(phone) > 32 or not set(phone) <= _PHONE_CHARACTERS:
            raise ValidationError(
                "phone must be a number of 6 to 20 digits, e.g. +33 1 23 45 67 89", "phone"
            )
