"""Product search ranking: worked examples and hypothesis properties."""

from __future__ import annotations

import math
import random
from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from domain.catalog.ranking import (
    NEUTRAL_BRAND_SCORE,
    PRICE_TOLERANCE,
    Candidate,
    RankingFilters,
    RankingWeights,
    brand_score,
    price_alignment,
    rank,
    score_candidate,
)

CATEGORIES = ["dress", "coat", "shoes"]
BRANDS = ["Maison A", "Atelier B", "C Studio"]


def candidate(
    product_id: str = "p1",
    cosine: float = 0.3,
    price_minor: int = 10_000,
    brand: str = "Maison A",
    category: str = "dress",
    in_stock: bool = True,
    currency: str = "EUR",
) -> Candidate:
    return Candidate(product_id, cosine, price_minor, currency, brand, category, in_stock)


candidates_st = st.builds(
    Candidate,
    product_id=st.text(alphabet="abcdef0123456789", min_size=1, max_size=6),
    cosine=st.floats(-1.0, 1.0),
    price_minor=st.integers(0, 1_000_000),
    currency=st.sampled_from(["EUR", "USD"]),
    brand=st.sampled_from([*BRANDS, "Unknown"]),
    category=st.sampled_from(CATEGORIES),
    in_stock=st.booleans(),
)
weights_st = (
    st.tuples(*[st.floats(0, 10)] * 4)
    .filter(lambda values: sum(values) > 0)
    .map(lambda values: RankingWeights(*values))
)
budget_st = st.none() | st.integers(1, 1_000_000)
affinity_st = st.dictionaries(st.sampled_from(BRANDS), st.floats(0.0, 1.0), max_size=3)
filters_st = st.builds(
    RankingFilters,
    max_price_minor=st.none() | st.integers(0, 1_000_000),
    category=st.none() | st.sampled_from([*CATEGORIES, "DRESS"]),
    currency=st.none() | st.sampled_from(["EUR", "usd"]),
    in_stock_only=st.booleans(),
)


# -- worked examples ---------------------------------------------------------------------


def test_default_weights_sum_to_one() -> None:
    weights = RankingWeights()
    assert (weights.alpha, weights.beta, weights.gamma, weights.delta) == (0.7, 0.15, 0.1, 0.05)
    assert weights.total == pytest.approx(1.0)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"alpha": -0.1},
        {"beta": math.nan},
        {"gamma": math.inf},
        {"alpha": 0, "beta": 0, "gamma": 0, "delta": 0},
    ],
)
def test_invalid_weights_are_refused(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        RankingWeights(**kwargs)


def test_score_is_the_weighted_sum_of_its_components() -> None:
    ranked = score_candidate(
        candidate(cosine=0.8, price_minor=9_000, brand="Maison A", in_stock=True),
        RankingWeights(),
        budget_minor=10_000,
        brand_affinity={"maison a": 0.9},
    )
    assert (ranked.similarity, ranked.price_alignment) == (0.8, 1.0)
    assert (ranked.brand_score, ranked.availability) == (0.9, 1.0)
    assert ranked.score == pytest.approx(0.7 * 0.8 + 0.15 * 1.0 + 0.1 * 0.9 + 0.05 * 1.0)


def test_price_alignment_shape() -> None:
    assert price_alignment(5_000, None) == 0.5
    assert price_alignment(0, 10_000) == 1.0
    assert price_alignment(10_000, 10_000) == 1.0
    assert price_alignment(11_000, 10_000) == pytest.approx(math.exp(-((0.1 / 0.25) ** 2)))
    budget = 10_000
    at_tolerance = int(budget * (1 + PRICE_TOLERANCE))
    assert price_alignment(at_tolerance, budget) == pytest.approx(math.exp(-1))
    assert price_alignment(30_000, budget) < 1e-6
    with pytest.raises(ValueError):
        price_alignment(100, 0)
    with pytest.raises(ValueError):
        price_alignment(-1, 100)


def test_brand_score_defaults_to_neutral() -> None:
    assert brand_score("Nobody", {"Maison A": 1.0}) == NEUTRAL_BRAND_SCORE
    assert brand_score("MAISON a ", {"Maison A": 1.0}) == 1.0
    assert brand_score("Maison A", None) == NEUTRAL_BRAND_SCORE
    with pytest.raises(ValueError):
        brand_score("x", {"x": 1.5})


def test_negative_cosine_counts_as_unrelated() -> None:
    ranked = score_candidate(candidate(cosine=-0.4), RankingWeights())
    assert ranked.similarity == 0.0


def test_an_in_stock_item_within_budget_beats_a_pricier_sold_out_one() -> None:
    cheap = candidate("cheap", cosine=0.30, price_minor=8_000, in_stock=True)
    pricey = candidate("pricey", cosine=0.32, price_minor=20_000, in_stock=False)
    result = rank([pricey, cheap], RankingWeights(), budget_minor=10_000)
    assert [r.product_id for r in result] == ["cheap", "pricey"]


def test_ties_are_broken_by_product_id() -> None:
    items = [candidate(pid) for pid in ("c", "a", "b")]
    assert [r.product_id for r in rank(items)] == ["a", "b", "c"]


def test_duplicate_product_keeps_its_best_entry() -> None:
    result = rank([candidate("p", cosine=0.1), candidate("p", cosine=0.5)])
    assert len(result) == 1
    assert result[0].candidate.cosine == 0.5


def test_limit() -> None:
    items = [candidate(str(i), cosine=i / 10) for i in range(10)]
    assert [r.product_id for r in rank(items, limit=3)] == ["9", "8", "7"]
    assert rank(items, limit=0) == []


def test_filters() -> None:
    items = [
        candidate("a", price_minor=5_000, category="dress", in_stock=True),
        candidate("b", price_minor=15_000, category="dress", in_stock=True),
        candidate("c", price_minor=5_000, category="coat", in_stock=True),
        candidate("d", price_minor=5_000, category="Dress", in_stock=False),
        candidate("e", price_minor=5_000, category="dress", in_stock=True, currency="USD"),
    ]
    filters = RankingFilters(
        max_price_minor=10_000, category="DRESS", in_stock_only=True, currency="EUR"
    )
    assert [r.product_id for r in rank(items, filters=filters)] == ["a"]


def test_invalid_candidates_are_refused() -> None:
    with pytest.raises(ValueError):
        candidate(cosine=math.nan)
    with pytest.raises(ValueError):
        candidate(price_minor=-1)
    with pytest.raises(ValueError):
        Candidate("p", 0.1, 10.5, "EUR", "b", "c", True)  # type: ignore[arg-type]


# -- properties --------------------------------------------------------------------------


@given(
    c=candidates_st,
    lower=st.floats(-1.0, 1.0),
    higher=st.floats(-1.0, 1.0),
    weights=weights_st,
    budget=budget_st,
    affinity=affinity_st,
)
def test_score_is_monotone_in_cosine(
    c: Candidate,
    lower: float,
    higher: float,
    weights: RankingWeights,
    budget: int | None,
    affinity: dict[str, float],
) -> None:
    lower, higher = sorted((lower, higher))
    low = score_candidate(replace(c, cosine=lower), weights, budget, affinity)
    high = score_candidate(replace(c, cosine=higher), weights, budget, affinity)
    assert high.score >= low.score


@given(c=candidates_st, weights=weights_st, budget=budget_st, affinity=affinity_st)
def test_components_are_bounded(
    c: Candidate, weights: RankingWeights, budget: int | None, affinity: dict[str, float]
) -> None:
    ranked = score_candidate(c, weights, budget, affinity)
    for component in (
        ranked.similarity,
        ranked.price_alignment,
        ranked.brand_score,
        ranked.availability,
    ):
        assert 0.0 <= component <= 1.0
    assert 0.0 <= ranked.score <= weights.total * (1 + 1e-12)


@given(
    price=st.integers(0, 10_000_000),
    more=st.integers(0, 10_000_000),
    budget=st.integers(1, 10_000_000),
)
def test_price_alignment_never_rises_with_price(price: int, more: int, budget: int) -> None:
    assert price_alignment(price + more, budget) <= price_alignment(price, budget)


@given(
    items=st.lists(candidates_st, max_size=30),
    filters=filters_st,
    budget=budget_st,
)
def test_filters_never_return_an_excluded_item(
    items: list[Candidate], filters: RankingFilters, budget: int | None
) -> None:
    result = rank(items, RankingWeights(), budget, filters)
    for ranked in result:
        c = ranked.candidate
        assert filters.admits(c)
        if filters.max_price_minor is not None:
            assert c.price_minor <= filters.max_price_minor
        if filters.category is not None:
            assert c.category.casefold() == filters.category.casefold()
        if filters.currency is not None:
            assert c.currency.upper() == filters.currency.upper()
        if filters.in_stock_only:
            assert c.in_stock
    admitted_ids = {c.product_id for c in items if filters.admits(c)}
    assert {r.product_id for r in result} == admitted_ids  # nothing admitted is lost


@settings(max_examples=200)
@given(
    items=st.lists(candidates_st, max_size=30),
    weights=weights_st,
    budget=budget_st,
    affinity=affinity_st,
    seed=st.integers(0, 2**32 - 1),
)
def test_ordering_is_deterministic_and_sorted(
    items: list[Candidate],
    weights: RankingWeights,
    budget: int | None,
    affinity: dict[str, float],
    seed: int,
) -> None:
    first = rank(items, weights, budget, brand_affinity=affinity)
    shuffled = list(items)
    random.Random(seed).shuffle(shuffled)
    second = rank(shuffled, weights, budget, brand_affinity=affinity)
    assert first == second
    keys = [(-r.score, r.product_id) for r in first]
    assert keys == sorted(keys)
    assert len({r.product_id for r in first}) == len(first)
