"""The matching score: documented components, properties that hold for any input."""

from __future__ import annotations

import math

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from domain.ateliers.matching import (
    WEIGHTS,
    AtelierProfile,
    DesignRequirements,
    ScoreWeights,
    budget_fit,
    capacity_fit,
    complexity_fit,
    distance_fit,
    haversine_km,
    rank_ateliers,
    score_atelier,
)
from domain.ateliers.values import Capabilities, GeoPoint, Location, PriceBand
from domain.shared.money import Money

CATEGORIES = ["dresses", "coats", "knitwear", "tailoring", "bridal"]

points = st.builds(
    GeoPoint,
    latitude=st.floats(-90, 90, allow_nan=False),
    longitude=st.floats(-180, 180, allow_nan=False),
)
complexities = st.integers(1, 5)
amounts = st.integers(1, 10**9)


@st.composite
def price_bands(draw: st.DrawFn, currency: str = "EUR") -> PriceBand:
    low = draw(amounts)
    high = draw(st.integers(low, low + 10**9))
    return PriceBand(low, high, currency)


@st.composite
def profiles(draw: st.DrawFn) -> AtelierProfile:
    capacity = draw(st.integers(1, 500))
    return AtelierProfile(
        atelier_id=draw(st.uuids()).hex,
        capabilities=Capabilities.of(
            categories=draw(st.lists(st.sampled_from(CATEGORIES), min_size=1, max_size=5)),
            max_complexity=draw(complexities),
            location=Location(draw(points), "Somewhere"),
            price_band=draw(price_bands()),
            capacity_per_month=capacity,
        ),
        booked_this_month=draw(st.integers(0, capacity + 5)),
    )


designs = st.builds(
    DesignRequirements,
    category=st.sampled_from(CATEGORIES),
    complexity=complexities,
    budget=st.builds(Money, amounts, st.just("EUR")),
    location=st.one_of(st.none(), points),
)

PARIS = GeoPoint(48.8566, 2.3522)
LONDON = GeoPoint(51.5074, -0.1278)


def test_the_weights_are_documented_and_add_up_to_one() -> None:
    assert (
        WEIGHTS.category,
        WEIGHTS.complexity,
        WEIGHTS.distance,
        WEIGHTS.budget,
        WEIGHTS.capacity,
    ) == (0.30, 0.25, 0.15, 0.20, 0.10)
    with pytest.raises(ValueError):
        ScoreWeights(category=0.5)


def test_haversine_paris_london_is_about_344_km() -> None:
    assert haversine_km(PARIS, LONDON) == pytest.approx(343.5, abs=1.0)


def test_components_on_known_values() -> None:
    assert complexity_fit(3, 3) == 1.0
    assert complexity_fit(3, 5) == pytest.approx(0.9)
    assert complexity_fit(4, 3) == 0.0
    assert distance_fit(0) == 1.0 and distance_fit(250) == pytest.approx(0.5)
    assert distance_fit(None) == 0.5
    band = PriceBand(10_000, 30_000, "EUR")
    assert budget_fit(Money(20_000, "EUR"), band) == pytest.approx(0.5)
    assert budget_fit(Money(9_999, "EUR"), band) == 0.0
    assert budget_fit(Money(50_000, "USD"), band) == 0.0
    assert capacity_fit(10, 10) == 0.0 and capacity_fit(10, 0) == 1.0


@given(points, points)
def test_haversine_is_a_symmetric_bounded_distance(a: GeoPoint, b: GeoPoint) -> None:
    d = haversine_km(a, b)
    assert d == pytest.approx(haversine_km(b, a), abs=1e-6)
    assert 0 <= d <= math.pi * 6371.0088 + 1e-6
    assert haversine_km(a, a) == pytest.approx(0, abs=1e-6)


@given(points, points, points)
def test_haversine_obeys_the_triangle_inequality(a: GeoPoint, b: GeoPoint, c: GeoPoint) -> None:
    assert haversine_km(a, c) <= haversine_km(a, b) + haversine_km(b, c) + 1e-6


@given(designs, profiles())
def test_every_component_and_the_score_lie_in_0_1(
    design: DesignRequirements, atelier: AtelierProfile
) -> None:
    scored = score_atelier(design, atelier)
    c = scored.components
    for value in (c.category, c.complexity, c.distance, c.budget, c.capacity, scored.score):
        assert 0.0 <= value <= 1.0
    assert scored.score == pytest.approx(c.weighted_sum())


@given(designs, profiles())
def test_ineligible_exactly_when_category_complexity_or_capacity_rule_it_out(
    design: DesignRequirements, atelier: AtelierProfile
) -> None:
    caps = atelier.capabilities
    expected = (
        design.category in caps.categories
        and caps.max_complexity >= design.complexity
        and atelier.booked_this_month < caps.capacity_per_month
    )
    assert score_atelier(design, atelier).eligible is expected


@given(st.floats(0, 20_000), st.floats(0, 20_000))
def test_nearer_is_never_worse(d1: float, d2: float) -> None:
    near, far = sorted((d1, d2))
    assert distance_fit(near) >= distance_fit(far)


@given(price_bands(), amounts, amounts)
def test_a_bigger_budget_never_fits_worse(band: PriceBand, b1: int, b2: int) -> None:
    small, big = sorted((b1, b2))
    assert budget_fit(Money(big, "EUR"), band) >= budget_fit(Money(small, "EUR"), band)


@given(st.integers(1, 1000), st.integers(0, 1000), st.integers(0, 1000))
def test_more_bookings_never_fit_better(capacity: int, k1: int, k2: int) -> None:
    fewer, more = sorted((k1, k2))
    assert capacity_fit(capacity, fewer) >= capacity_fit(capacity, more)


@given(designs, st.lists(profiles(), max_size=12), st.integers(0, 10))
def test_ranking_is_best_first_eligible_only_and_bounded(
    design: DesignRequirements, ateliers: list[AtelierProfile], limit: int
) -> None:
    ranked = rank_ateliers(design, ateliers, limit)
    assert len(ranked) <= limit
    assert all(s.eligible for s in ranked)
    assert [s.score for s in ranked] == sorted((s.score for s in ranked), reverse=True)
    eligible = [a for a in ateliers if score_atelier(design, a).eligible]
    assert len(ranked) == min(limit, len(eligible))
    assert rank_ateliers(design, list(reversed(ateliers)), limit) == ranked or any(
        a.atelier_id == b.atelier_id for i, a in enumerate(ateliers) for b in ateliers[i + 1 :]
    )


@given(designs, profiles(), amounts)
def test_raising_the_budget_never_lowers_an_ateliers_score(
    design: DesignRequirements, atelier: AtelierProfile, extra: int
) -> None:
    assume(design.budget.amount + extra < 10**12)
    richer = DesignRequirements(
        design.category,
        design.complexity,
        Money(design.budget.amount + extra, "EUR"),
        design.location,
    )
    assert score_atelier(richer, atelier).score >= score_atelier(design, atelier).score - 1e-12
