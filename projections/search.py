"""Product search over the read side: vector index candidates, catalog rows, domain ranking;
and the search log.

1. Candidates: the nearest product image embeddings to the query vector, from the vector
   index projection (over-fetched, since filters and ranking come after retrieval; widened
   up to ``MAX_CANDIDATES`` while filters leave fewer than asked for).
2. Their catalog rows (price, brand, category, stock, listing) from ``read.catalog_products``;
   delisted products and products the catalog has not projected yet are dropped.
3. ``domain.catalog.ranking.rank``: hard filters, then
   ``alpha*similarity + beta*price_alignment + gamma*brand + delta*availability``.

The search log (``read.search_log``) is written directly by the API with asyncpg: it records
what was asked, not a business fact, so it is not event-sourced and a rebuild does not
touch it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import asyncpg

from application.ports import Vector, VectorMatch
from domain.catalog.ranking import (
    Candidate,
    RankedCandidate,
    RankingFilters,
    RankingWeights,
    rank,
)
from projections.schema import READ_SCHEMA

MIN_CANDIDATES = 50
MAX_CANDIDATES = 5000
SEARCH_LOG_SQL = f"""
CREATE SCHEMA IF NOT EXISTS {READ_SCHEMA};
CREATE TABLE IF NOT EXISTS {READ_SCHEMA}.search_log (
    id              bigserial PRIMARY KEY,
    query_type      text NOT NULL,
    query_text      text,
    result_count    integer NOT NULL,
    latency_ms      double precision NOT NULL,
    actor           text NOT NULL,
    correlation_id  text,
    created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS search_log_created_idx ON {READ_SCHEMA}.search_log (created_at);
"""


class ProductVectors(Protocol):
    """The products collection of the vector index projection."""

    def search(
        self, collection: str, model_id: str, vector: Vector, limit: int
    ) -> list[VectorMatch]: ...


@dataclass(frozen=True)
class SearchOptions:
    limit: int = 20
    budget: int | None = None
    max_price: int | None = None
    category: str | None = None
    in_stock_only: bool = False
    currency: str | None = None


@dataclass(frozen=True)
class SearchHit:
    ranked: RankedCandidate
    row: Mapping[str, Any]


async def catalog_rows(pool: asyncpg.Pool, product_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
    """Listed products' rows by id (products the catalog has not projected yet are absent)."""
    if not product_ids:
        return {}
    try:
        rows = await pool.fetch(
            f"SELECT product_id, title, category, brand, price, currency, on_hand, reserved, "
            f"available, listed, image_sha256, version FROM {READ_SCHEMA}.catalog_products "
            "WHERE product_id = ANY($1::uuid[]) AND listed",
            list(product_ids),
        )
    except asyncpg.UndefinedTableError:  # no projection worker has run yet
        return {}
    return {str(row["product_id"]): dict(row) for row in rows}


async def search_products(
    pool: asyncpg.Pool,
    vectors: ProductVectors,
    model_id: str,
    query: Vector,
    options: SearchOptions,
    weights: RankingWeights,
    *,
    collection: str = "products",
) -> list[SearchHit]:
    """Ranked products most similar to ``query`` (see the module docstring)."""
    filters = RankingFilters(
        max_price_minor=options.max_price,
        category=options.category,
        currency=options.currency,
        in_stock_only=options.in_stock_only,
    )
    wanted = max(MIN_CANDIDATES, options.limit * 5)
    while True:
        matches = await _search(vectors, collection, model_id, query, wanted)
        rows = await catalog_rows(pool, [m.key for m in matches])
        candidates = [
            Candidate(
                product_id=m.key,
                cosine=m.similarity,
                price_minor=int(rows[m.key]["price"]),
                currency=rows[m.key]["currency"].strip(),
                brand=rows[m.key]["brand"],
                category=rows[m.key]["category"],
                in_stock=rows[m.key]["available"] > 0,
            )
            for m in matches
            if m.key in rows
        ]
        ranked = rank(candidates, weights, options.budget, filters, limit=options.limit)
        exhausted = len(matches) < wanted or wanted >= MAX_CANDIDATES
        if len(ranked) >= options.limit or exhausted:
            return [SearchHit(r, rows[r.product_id]) for r in ranked]
        wanted = min(MAX_CANDIDATES, wanted * 4)


async def _search(
    vectors: ProductVectors, collection: str, model_id: str, query: Vector, limit: int
) -> list[VectorMatch]:
    import anyio.to_thread

    return await anyio.to_thread.run_sync(vectors.search, collection, model_id, query, limit)


async def create_search_log(pool: asyncpg.Pool) -> None:
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock(hashtext('modiste-search-log'))")
        await conn.execute(SEARCH_LOG_SQL)


async def log_search(
    pool: asyncpg.Pool,
    *,
    query_type: str,
    query_text: str | None,
    result_count: int,
    latency_ms: float,
    actor: str,
    correlation_id: str | None,
) -> None:
    await pool.execute(
        f"INSERT INTO {READ_SCHEMA}.search_log (query_type, query_text, result_count, "
        "latency_ms, actor, correlation_id) VALUES ($1, $2, $3, $4, $5, $6)",
        query_type,
        (query_text or "")[:1000] or None,
        result_count,
        round(latency_ms, 3),
        actor,
        correlation_id,
    )
