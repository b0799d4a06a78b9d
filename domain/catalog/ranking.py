"""Product search ranking: blend visual similarity with price, brand and availability.

    score = alpha * similarity + beta * price_alignment + gamma * brand_score
            + delta * availability

Every component lies in [0, 1]:

* ``similarity`` is the cosine similarity from the vector index clamped to [0, 1] (a negative
  cosine means "unrelated", which ranks no better than orthogonal);
* ``price_alignment`` is 1 at or under the shopper's budget and decays smoothly above it (see
  ``price_alignment``); 0.5, neutral, when there is no budget;
* ``brand_score`` is the shopper's affinity for the brand, 0.5 for brands without one;
* ``availability`` is 1 in stock, 0 out of stock.

With the default weights (summing to 1) the score lies in [0, 1] too. Hard filters (price cap,
category, currency, in stock only) run before scoring; ties are broken by product id, so the
same candidates always rank in the same order whatever order they arrive in.

Pure: no I/O. Money is integer minor units of one currency.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

NEUTRAL_PRICE_ALIGNMENT = 0.5
NEUTRAL_BRAND_SCORE = 0.5
PRICE_TOLERANCE = 0.25
"""Relative overshoot of the budget at which price alignment has fallen to 1/e (about 0.37)."""


@dataclass(frozen=True)
class RankingWeights:
    """Non-negative weights of the four components (alpha: similarity, beta: price, ...)."""

    alpha: float = 0.7
    beta: float = 0.15
    gamma: float = 0.1
    delta: float = 0.05

    def __post_init__(self) -> None:
        values = (self.alpha, self.beta, self.gamma, self.delta)
        if any(not math.isfinite(v) or v < 0 for v in values):
            raise ValueError("ranking weights must be finite and non-negative")
        if sum(values) == 0:
            raise ValueError("at least one ranking weight must be positive")

    @property
    def total(self) -> float:
        """The highest score a candidate can reach."""
        return self.alpha + self.beta + self.gamma + self.delta


@dataclass(frozen=True)
class Candidate:
    """A product found by the vector index, with what ranking needs to know about it."""

    product_id: str
    cosine: float
    price_minor: int
    currency: str
    brand: str
    category: str
    in_stock: bool

    def __post_init__(self) -> None:
        if not math.isfinite(self.cosine):
            raise ValueError("cosine similarity must be finite")
        if isinstance(self.price_minor, bool) or not isinstance(self.price_minor, int):
            raise ValueError("price is an integer amount in minor units")
        if self.price_minor < 0:
            raise ValueError("price must not be negative")


@dataclass(frozen=True)
class RankingFilters:
    """Hard filters: a candidate failing any of them is never returned.

    ``max_price_minor`` caps the price (inclusive); ``category`` matches case-insensitively;
    ``currency`` keeps only prices in that ISO code; ``in_stock_only`` drops sold-out items.
    """

    max_price_minor: int | None = None
    category: str | None = None
    currency: str | None = None
    in_stock_only: bool = False

    def __post_init__(self) -> None:
        if self.max_price_minor is not None and self.max_price_minor < 0:
            raise ValueError("max_price_minor must not be negative")

    def admits(self, candidate: Candidate) -> bool:
        """Whether ``candidate`` passes every filter."""
        if self.max_price_minor is not None and candidate.price_minor > self.max_price_minor:
            return False
        if self.category is not None and (_fold(candidate.category) != _fold(self.category)):
            return False
        if self.currency is not None and candidate.currency.upper() != self.currency.upper():
            return False
        return not (self.in_stock_only and not candidate.in_stock)


@dataclass(frozen=True)
class RankedCandidate:
    """A candidate with its score and every component that made it."""

    candidate: Candidate
    score: float
    similarity: float
    price_alignment: float
    brand_score: float
    availability: float

    @property
    def product_id(self) -> str:
        return self.candidate.product_id


def similarity_component(cosine: float) -> float:
    """Cosine similarity clamped to [0, 1]."""
    return min(1.0, max(0.0, cosine))


def price_alignment(price_minor: int, budget_minor: int | None) -> float:
    """How well a price fits a budget, in [0, 1].

    No budget: 0.5 (neutral). At or under budget: 1. Above it the alignment decays as a
    Gaussian of the relative overshoot ``r = (price - budget) / budget``::

        alignment = exp(-(r / PRICE_TOLERANCE) ** 2)

    which is smooth at the budget (no kink), 0.85 at 10 % over, 0.37 at 25 % over, 0.02 at
    50 % over and non-increasing in the price everywhere.
    """
    if price_minor < 0:
        raise ValueError("price must not be negative")
    if budget_minor is None:
        return NEUTRAL_PRICE_ALIGNMENT
    if budget_minor <= 0:
        raise ValueError("a budget must be a positive amount in minor units")
    if price_minor <= budget_minor:
        return 1.0
    overshoot = (price_minor - budget_minor) / budget_minor
    return math.exp(-((overshoot / PRICE_TOLERANCE) ** 2))


def brand_score(brand: str, affinity: Mapping[str, float] | None) -> float:
    """The affinity for ``brand`` (matched case-insensitively), 0.5 when unknown."""
    _check_affinity(affinity)
    return _folded(affinity).get(_fold(brand), NEUTRAL_BRAND_SCORE)


def availability(in_stock: bool) -> float:
    """1 when the product can be bought now, else 0."""
    return 1.0 if in_stock else 0.0


def score_candidate(
    candidate: Candidate,
    weights: RankingWeights,
    budget_minor: int | None = None,
    brand_affinity: Mapping[str, float] | None = None,
) -> RankedCandidate:
    """Score one candidate (no filtering)."""
    _check_affinity(brand_affinity)
    return _score(candidate, weights, budget_minor, _folded(brand_affinity))


def rank(
    candidates: Iterable[Candidate],
    weights: RankingWeights | None = None,
    budget_minor: int | None = None,
    filters: RankingFilters | None = None,
    *,
    brand_affinity: Mapping[str, float] | None = None,
    limit: int | None = None,
) -> list[RankedCandidate]:
    """Filter, score and order candidates: best score first, then product id ascending.

    ``budget_minor`` is the soft budget behind price alignment (same currency as the
    prices); ``filters.max_price_minor`` is the hard cap. ``brand_affinity`` maps brand
    names to affinities in [0, 1]. A product id appearing twice keeps its best-scored entry.
    """
    weights = weights or RankingWeights()
    filters = filters or RankingFilters()
    if limit is not None and limit < 0:
        raise ValueError("limit must not be negative")
    if budget_minor is not None and budget_minor <= 0:
        raise ValueError("a budget must be a positive amount in minor units")
    _check_affinity(brand_affinity)
    affinity = _folded(brand_affinity)
    best: dict[str, RankedCandidate] = {}
    for candidate in candidates:
        if not filters.admits(candidate):
            continue
        ranked = _score(candidate, weights, budget_minor, affinity)
        current = best.get(candidate.product_id)
        if current is None or _order_key(ranked) < _order_key(current):
            best[candidate.product_id] = ranked
    ordered = sorted(best.values(), key=_order_key)
    return ordered if limit is None else ordered[:limit]


def _score(
    candidate: Candidate,
    weights: RankingWeights,
    budget_minor: int | None,
    affinity: Mapping[str, float],
) -> RankedCandidate:
    sim = similarity_component(candidate.cosine)
    price = price_alignment(candidate.price_minor, budget_minor)
    brand = affinity.get(_fold(candidate.brand), NEUTRAL_BRAND_SCORE)
    avail = availability(candidate.in_stock)
    score = weights.alpha * sim + weights.beta * price + weights.gamma * brand
    score += weights.delta * avail
    return RankedCandidate(
        candidate=candidate,
        score=score,
        similarity=sim,
        price_alignment=price,
        brand_score=brand,
        availability=avail,
    )


def _order_key(ranked: RankedCandidate) -> tuple[object, ...]:
    # Score first, then product id. The remaining fields only order duplicates of one id,
    # so that which duplicate survives never depends on the input order.
    c = ranked.candidate
    return (
        -ranked.score,
        c.product_id,
        -c.cosine,
        c.price_minor,
        c.currency,
        c.brand,
        c.category,
        not c.in_stock,
    )


def _check_affinity(affinity: Mapping[str, float] | None) -> None:
    for name, value in (affinity or {}).items():
        if not (0.0 <= value <= 1.0):  # also refuses NaN
            raise ValueError(f"brand affinity for {name!r} must lie in [0, 1], got {value}")


def _folded(affinity: Mapping[str, float] | None) -> dict[str, float]:
    return {_fold(name): float(value) for name, value in (affinity or {}).items()}


def _fold(text: str) -> str:
    return text.strip().casefold()


__all__ = [
    "NEUTRAL_BRAND_SCORE",
    "NEUTRAL_PRICE_ALIGNMENT",
    "PRICE_TOLERANCE",
    "Candidate",
    "RankedCandidate",
    "RankingFilters",
    "RankingWeights",
    "availability",
    "brand_score",
    "price_alignment",
    "rank",
    "score_candidate",
    "similarity_component",
]
