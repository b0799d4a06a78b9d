"""msgspec bodies of the search endpoints (text, image upload, similar products)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Annotated

import msgspec
from litestar.datastructures import UploadFile
from msgspec import Meta

from domain.catalog.ranking import RankingWeights
from interfaces.http.presenters import blob_url
from interfaces.http.schemas import MoneyBody, StockLevels
from projections.search import SearchHit, SearchOptions

Limit = Annotated[int, Meta(ge=1, le=100, description="How many products to return")]
Budget = Annotated[
    int,
    Meta(
        gt=0,
        le=10**12,
        description="Soft budget in minor units: price alignment is 1 up to it and decays "
        "above it (needs currency)",
    ),
]
MaxPrice = Annotated[int, Meta(ge=0, le=10**12, description="Hard price cap in minor units")]
Category = Annotated[str, Meta(min_length=1, max_length=100)]
Currency = Annotated[str, Meta(pattern="^[A-Z]{3}$", description="Only prices in this currency")]


class TextSearch(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    query: Annotated[str, Meta(min_length=1, max_length=500, examples=["red silk evening gown"])]
    limit: Limit = 20
    budget: Budget | None = None
    max_price: MaxPrice | None = None
    category: Category | None = None
    in_stock_only: bool = False
    currency: Currency | None = None


@dataclass
class ImageSearchForm:
    """multipart/form-data: the query image plus the same options as a text search."""

    image: UploadFile
    limit: int = 20
    budget: int | None = None
    max_price: int | None = None
    category: str | None = None
    in_stock_only: bool = False
    currency: str | None = None


@dataclass
class ImageUpload:
    """multipart/form-data with one file field, ``image`` (JPEG, PNG or WebP)."""

    image: UploadFile


class ScoreComponents(msgspec.Struct, kw_only=True):
    similarity: float
    price_alignment: float
    brand_score: float
    availability: float


class SearchResult(msgspec.Struct, kw_only=True):
    rank: int
    product_id: uuid.UUID
    title: str
    brand: str
    category: str
    price: MoneyBody
    stock: StockLevels
    image_url: str | None
    score: float
    components: ScoreComponents


class WeightsOut(msgspec.Struct, kw_only=True):
    alpha: float
    beta: float
    gamma: float
    delta: float


class SearchResults(msgspec.Struct, kw_only=True):
    query_type: str
    model_id: str
    count: int
    latency_ms: float
    weights: WeightsOut
    results: list[SearchResult]
    index_position: int


def search_result(position: int, hit: SearchHit) -> SearchResult:
    ranked, row = hit.ranked, hit.row
    return SearchResult(
        rank=position,
        product_id=row["product_id"],
        title=row["title"],
        brand=row["brand"],
        category=row["category"],
        price=MoneyBody(row["price"], row["currency"].strip()),
        stock=StockLevels(row["on_hand"], row["reserved"], row["available"]),
        image_url=blob_url(row["image_sha256"]),
        score=round(ranked.score, 6),
        components=ScoreComponents(
            similarity=round(ranked.similarity, 6),
            price_alignment=round(ranked.price_alignment, 6),
            brand_score=round(ranked.brand_score, 6),
            availability=ranked.availability,
        ),
    )


def weights_out(weights: RankingWeights) -> WeightsOut:
    return WeightsOut(
        alpha=weights.alpha, beta=weights.beta, gamma=weights.gamma, delta=weights.delta
    )


def search_options(
    *,
    limit: int,
    budget: int | None,
    max_price: int | None,
    category: str | None,
    in_stock_only: bool,
    currency: str | None,
) -> SearchOptions:
    return SearchOptions(
        limit=limit,
        budget=budget,
        max_price=max_price,
        category=category,
        in_stock_only=in_stock_only,
        currency=currency,
    )
