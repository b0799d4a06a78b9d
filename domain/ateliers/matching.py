"""The atelier matching score: a pure, documented function of a design and an atelier.

Each component is a number in [0, 1]; the score is their weighted sum (weights add up to
1), so it is in [0, 1] too and every component can be shown to the designer.

Components and weights:

* **category** (0.30): 1 when the atelier lists the design's category, else 0.
* **complexity** (0.25): 1 when the atelier's maximum equals the design's complexity, 0.05
  less per level of headroom (a couture house can sew a T-shirt, but a right-sized shop
  fits better), 0 when the design is beyond it.
* **distance** (0.15): 1 / (1 + d / 250 km), d the great-circle (haversine) distance from
  the designer to the atelier: 1 next door, 0.5 at 250 km, 0.2 at 1,000 km; 0.5 when the
  designer gave no location (neutral: it changes no ranking).
* **budget** (0.20): the share of the atelier's price band the budget covers: 1 when the
  budget reaches its highest price, 0 below its lowest price or in another currency (no
  conversion).
* **capacity** (0.10): remaining / capacity this month (accepted matches of the last 30
  days count as booked): 1 when nothing is booked, 0 when full.

An atelier is *eligible* only when it makes the category, can reach the complexity and has
capacity left; the others are never asked. Ties are broken by distance, then by atelier id,
so ranking is deterministic.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

from domain.ateliers.values import Capabilities, GeoPoint, PriceBand, normalise_category
from domain.shared.money import Money

EARTH_RADIUS_KM = 6371.0088
"""Mean Earth radius (IUGG), the usual constant for the haversine formula."""
DISTANCE_HALF_FIT_KM = 250.0
"""The distance at which the distance fit is one half."""
UNKNOWN_DISTANCE_FIT = 0.5
"""Distance fit when the designer gave no location: neutral, it does not change the ranking."""
HEADROOM_PENALTY = 0.05
"""Complexity fit lost per level an atelier's maximum exceeds the design's complexity."""


@dataclass(frozen=True)
class ScoreWeights:
    """How much each component counts; the weights add up to 1."""

    category: float = 0.30
    complexity: float = 0.25
    distance: float = 0.15
    budget: float = 0.20
    capacity: float = 0.10

    def __post_init__(self) -> None:
        values = (self.category, self.complexity, self.distance, self.budget, self.capacity)
        if any(v < 0 for v in values) or not math.isclose(sum(values), 1.0, abs_tol=1e-9):
            raise ValueError("score weights are non-negative and add up to 1")


WEIGHTS = ScoreWeights()


@dataclass(frozen=True)
class DesignRequirements:
    """What the design needs: its category and complexity, the budget per piece, and
    (optionally) where the designer is."""

    category: str
    complexity: int
    budget: Money
    location: GeoPoint | None = None


@dataclass(frozen=True)
class AtelierProfile:
    """An atelier as the matcher sees it: capabilities and how booked it is this month."""

    atelier_id: str
    capabilities: Capabilities
    booked_this_month: int = 0


@dataclass(frozen=True)
class ScoreComponents:
    category: float
    complexity: float
    distance: float
    budget: float
    capacity: float
    distance_km: float | None

    def weighted_sum(self, weights: ScoreWeights = WEIGHTS) -> float:
        return (
            weights.category * self.category
            + weights.complexity * self.complexity
            + weights.distance * self.distance
            + weights.budget * self.budget
            + weights.capacity * self.capacity
        )


@dataclass(frozen=True)
class AtelierScore:
    atelier_id: str
    score: float
    components: ScoreComponents
    eligible: bool


# -- components -----------------------------------------------------------------------------


def haversine_km(a: GeoPoint, b: GeoPoint) -> float:
    """Great-circle distance between two points in kilometres."""
    lat1, lon1, lat2, lon2 = map(math.radians, (a.latitude, a.longitude, b.latitude, b.longitude))
    h = (
        math.sin((lat2 - lat1) / 2) ** 2
        + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    )
    return 2 * EARTH_RADIUS_KM * math.asin(math.sqrt(min(1.0, max(0.0, h))))


def category_fit(category: str, categories: Iterable[str]) -> float:
    return 1.0 if normalise_category(category) in set(categories) else 0.0


def complexity_fit(complexity: int, max_complexity: int) -> float:
    if max_complexity < complexity:
        return 0.0
    return max(0.0, 1.0 - HEADROOM_PENALTY * (max_complexity - complexity))


def distance_fit(distance_km: float | None) -> float:
    if distance_km is None:
        return UNKNOWN_DISTANCE_FIT
    return 1.0 / (1.0 + max(0.0, distance_km) / DISTANCE_HALF_FIT_KM)


def budget_fit(budget: Money, band: PriceBand) -> float:
    if budget.currency != band.currency or budget.amount < band.minimum:
        return 0.0
    if budget.amount >= band.maximum:
        return 1.0
    return (budget.amount - band.minimum) / (band.maximum - band.minimum)


def capacity_fit(capacity_per_month: int, booked: int) -> float:
    remaining = capacity_per_month - max(0, booked)
    return max(0.0, min(1.0, remaining / capacity_per_month))


# -- score and ranking ---------------------------------------------------------------------


def score_atelier(
    design: DesignRequirements, atelier: AtelierProfile, weights: ScoreWeights = WEIGHTS
) -> AtelierScore:
    """Every component, the weighted score and whether the atelier may be asked at all."""
    caps = atelier.capabilities
    distance_km = haversine_km(design.location, caps.location.point) if design.location else None
    components = ScoreComponents(
        category=category_fit(design.category, caps.categories),
        complexity=complexity_fit(design.complexity, caps.max_complexity),
        distance=distance_fit(distance_km),
        budget=budget_fit(design.budget, caps.price_band),
        capacity=capacity_fit(caps.capacity_per_month, atelier.booked_this_month),
        distance_km=distance_km,
    )
    eligible = components.category > 0 and components.complexity > 0 and components.capacity > 0
    score = min(1.0, max(0.0, components.weighted_sum(weights)))
    return AtelierScore(atelier.atelier_id, score, components, eligible)


def rank_ateliers(
    design: DesignRequirements,
    ateliers: Iterable[AtelierProfile],
    limit: int,
    weights: ScoreWeights = WEIGHTS,
) -> list[AtelierScore]:
    """The ``limit`` best eligible ateliers, best first."""
    scored = [score_atelier(design, atelier, weights) for atelier in ateliers]
    eligible = [s for s in scored if s.eligible]
    eligible.sort(
        key=lambda s: (
            -s.score,
            s.components.distance_km if s.components.distance_km is not None else 0.0,
            s.atelier_id,
        )
    )
    return eligible[: max(0, limit)]
