"""Product search by text or by image: CLIP embedding, vector index, ranking, search log."""

from __future__ import annotations

import re
import time
from typing import Annotated, Any

import asyncpg
import numpy as np
from litestar import Controller, Request, post
from litestar.di import NamedDependency
from litestar.enums import RequestEncodingType
from litestar.params import Body, JSONBody

from application.ports import Vector
from domain.catalog.ranking import RankingWeights
from infrastructure.bootstrap import Container
from infrastructure.images import validate_image
from infrastructure.search.follower import VectorIndexFollower
from infrastructure.settings import Settings
from interfaces.http.auth import requires_role
from interfaces.http.context import principal_of, read_in_thread
from interfaces.http.search_schemas import (
    ImageSearchForm,
    SearchResults,
    TextSearch,
    search_options,
    search_result,
    weights_out,
)
from interfaces.http.studio_errors import STUDIO_EXCEPTION_HANDLERS, invalid_field
from projections.search import SearchOptions, log_search, search_products

SEARCH_ROLES = ("customer", "designer", "merchant", "operator")
_CURRENCY = re.compile(r"^[A-Z]{3}$")


def ranking_weights(settings: Settings) -> RankingWeights:
    """The ranking weights from MODISTE_RANK_ALPHA/BETA/GAMMA/DELTA."""
    studio = settings.studio
    return RankingWeights(studio.rank_alpha, studio.rank_beta, studio.rank_gamma, studio.rank_delta)


def check_options(options: SearchOptions) -> None:
    """Refuse combinations the ranking cannot honour (400, naming the field)."""
    if not 1 <= options.limit <= 100:
        raise invalid_field("limit", "must be between 1 and 100")
    if options.budget is not None and options.budget <= 0:
        raise invalid_field("budget", "must be a positive amount in minor units")
    if options.max_price is not None and options.max_price < 0:
        raise invalid_field("max_price", "must not be negative")
    if options.currency is not None and not _CURRENCY.match(options.currency):
        raise invalid_field("currency", "must be an ISO 4217 code such as EUR")
    if options.budget is not None and options.currency is None:
        raise invalid_field("currency", "a budget is an amount in one currency: give currency")
    if options.category is not None and not 0 < len(options.category) <= 100:
        raise invalid_field("category", "must be 1 to 100 characters")


async def run_search(
    request: Request[Any, Any, Any],
    *,
    query_type: str,
    query_text: str | None,
    model_id: str,
    vector: Vector,
    options: SearchOptions,
    started: float,
    pool: asyncpg.Pool,
    vectors: VectorIndexFollower,
    settings: Settings,
) -> SearchResults:
    """Rank candidates, log the search, shape the answer (shared by every search route)."""
    check_options(options)
    weights = ranking_weights(settings)
    hits = await search_products(
        pool, vectors, model_id, np.asarray(vector, dtype=np.float32), options, weights
    )
    latency_ms = (time.perf_counter() - started) * 1000
    await log_search(
        pool,
        query_type=query_type,
        query_text=query_text,
        result_count=len(hits),
        latency_ms=latency_ms,
        actor=principal_of(request).actor,
        correlation_id=request.scope.get("state", {}).get("correlation_id"),
    )
    return SearchResults(
        query_type=query_type,
        model_id=model_id,
        count=len(hits),
        latency_ms=round(latency_ms, 3),
        weights=weights_out(weights),
        results=[search_result(i + 1, hit) for i, hit in enumerate(hits)],
        index_position=vectors.position,
    )


class SearchController(Controller):
    path = "/search"
    tags = ["search"]
    exception_handlers = STUDIO_EXCEPTION_HANDLERS

    @post(
        "/text",
        operation_id="searchByText",
        guards=[requires_role(*SEARCH_ROLES)],
        status_code=200,
    )
    async def by_text(
        self,
        request: Request[Any, Any, Any],
        data: JSONBody[TextSearch],
        container: NamedDependency[Container],
        db_pool: NamedDependency[asyncpg.Pool],
        vectors: NamedDependency[VectorIndexFollower],
    ) -> SearchResults:
        """Products whose photos match a description (CLIP text embedding), ranked."""
        started = time.perf_counter()
        options = search_options(
            limit=data.limit,
            budget=data.budget,
            max_price=data.max_price,
            category=data.category,
            in_stock_only=data.in_stock_only,
            currency=data.currency,
        )
        check_options(options)
        embedder = await read_in_thread(container.ml.text_embedder)
        vector = (await read_in_thread(embedder.embed_texts, [data.query]))[0]
        return await run_search(
            request,
            query_type="text",
            query_text=data.query,
            model_id=embedder.model_id,
            vector=vector,
            options=options,
            started=started,
            pool=db_pool,
            vectors=vectors,
            settings=container.settings,
        )

    @post(
        "/image",
        operation_id="searchByImage",
        guards=[requires_role(*SEARCH_ROLES)],
        status_code=200,
    )
    async def by_image(
        self,
        request: Request[Any, Any, Any],
        data: Annotated[ImageSearchForm, Body(media_type=RequestEncodingType.MULTI_PART)],
        container: NamedDependency[Container],
        db_pool: NamedDependency[asyncpg.Pool],
        vectors: NamedDependency[VectorIndexFollower],
    ) -> SearchResults:
        """Products that look like an uploaded photo (field ``image``), ranked.

        Form fields ``limit``, ``budget``, ``max_price``, ``category``, ``in_stock_only`` and
        ``currency`` work as in a text search. Bad uploads are refused like product photos.
        """
        started = time.perf_counter()
        options = search_options(
            limit=data.limit,
            budget=data.budget,
            max_price=data.max_price,
            category=data.category,
            in_stock_only=data.in_stock_only,
            currency=data.currency,
        )
        check_options(options)
        content = await data.image.read()
        studio = container.settings.studio
        await read_in_thread(
            lambda: validate_image(
                content, max_bytes=studio.image_max_bytes, max_pixels=studio.image_max_pixels
            )
        )
        embedder = await read_in_thread(container.ml.image_embedder)
        vector = (await read_in_thread(embedder.embed_images, [content]))[0]
        return await run_search(
            request,
            query_type="image",
            query_text=data.image.filename or None,
            model_id=embedder.model_id,
            vector=vector,
            options=options,
            started=started,
            pool=db_pool,
            vectors=vectors,
            settings=container.settings,
        )
