"""Designs: request (202, the designer agent takes over), read, browse, publish, archive,
and the products that look like a design.

Designers and staff see every design; customers and partners see only published ones (any
other design is a 404 to them, as if it did not exist).
"""

from __future__ import annotations

import time
import uuid
from typing import Annotated, Any, Literal

import asyncpg
from litestar import Controller, Request, Response, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody, QueryParameter

from application.designs import RequestDesign
from application.errors import NotFoundError
from domain.designs.aggregates import Design
from domain.shared.errors import InvariantViolationError
from domain.shared.vectors import from_f16_bytes
from infrastructure.bootstrap import Container
from infrastructure.idempotency import IdempotencyStore
from infrastructure.search.follower import VectorIndexFollower
from interfaces.http.auth import requires_role
from interfaces.http.context import (
    caught_up,
    idempotent,
    in_thread,
    json_response,
    principal_of,
    read_in_thread,
)
from interfaces.http.controllers.orders import IdempotencyKey
from interfaces.http.controllers.products import IfMatch, expected_version
from interfaces.http.controllers.search import SEARCH_ROLES, check_options, run_search
from interfaces.http.designs_schemas import (
    Archival,
    DesignAccepted,
    DesignCreate,
    DesignOut,
    DesignPage,
    design_out,
    design_summary,
)
from interfaces.http.presenters import version_headers
from interfaces.http.search_schemas import (
    SearchResults,
    search_options,
)
from interfaces.http.studio_errors import STUDIO_EXCEPTION_HANDLERS
from projections.designs import DesignFilter, list_designs

STUDIO_ROLES = ("designer", "operator")
"""Who may change a design's publication (and who sees unpublished designs, with merchants)."""
INSIDERS = ("designer", "operator", "merchant")
DesignStatusName = Literal[
    "requested",
    "rejected",
    "enhanced",
    "generated",
    "embedded",
    "evaluated",
    "failed",
    "published",
    "archived",
]


def _sees_everything(request: Request[Any, Any, Any]) -> bool:
    return principal_of(request).role in INSIDERS


async def _visible_design(
    request: Request[Any, Any, Any], container: Container, design_id: uuid.UUID
) -> Design:
    design = await read_in_thread(container.designs.get_design, design_id)
    if not design.is_public and not _sees_everything(request):
        raise NotFoundError("design", design_id)
    return design


class DesignController(Controller):
    path = "/designs"
    tags = ["designs"]
    exception_handlers = STUDIO_EXCEPTION_HANDLERS

    @post(
        "/",
        operation_id="requestDesign",
        guards=[requires_role("designer")],
        status_code=202,
    )
    async def request_design(
        self,
        request: Request[Any, Any, Any],
        data: JSONBody[DesignCreate],
        container: NamedDependency[Container],
        idempotency: NamedDependency[IdempotencyStore],
        idempotency_key: IdempotencyKey = None,
    ) -> Response[bytes]:
        """Ask for a design; 202 at once with its id and position.

        The designer agent then moderates the prompt, enhances it, draws the image, checks
        and stores it, embeds it and scores it, one event per step; follow it with
        ``GET /designs/{id}`` (``status`` goes requested -> enhanced -> generated ->
        embedded -> evaluated, or rejected / failed with the reason).
        """

        async def produce() -> Response[bytes]:
            result = await in_thread(
                request,
                container.designs.request_design,
                RequestDesign(
                    prompt=data.prompt,
                    negative_prompt=data.negative_prompt,
                    garment=data.garment,
                    fabric=data.fabric,
                    silhouette=data.silhouette,
                    palette=tuple(data.palette),
                    seed=data.seed,
                    steps=data.steps,
                    guidance=data.guidance,
                    width=data.width,
                    height=data.height,
                    requested_by=principal_of(request).actor,
                ),
            )
            design, position = result.aggregate, result.position or 0
            headers = version_headers(design.version, position)
            headers["Location"] = f"/designs/{design.id}"
            return json_response(
                DesignAccepted(
                    id=design.id,
                    status=design.status.value,
                    seed=design.seed,
                    position=position,
                    status_url=f"/designs/{design.id}",
                ),
                status=202,
                headers=headers,
            )

        return await idempotent(request, idempotency_key, idempotency, produce)

    @get("/", operation_id="listDesigns")
    async def list_designs(
        self,
        request: Request[Any, Any, Any],
        db_pool: NamedDependency[asyncpg.Pool],
        container: NamedDependency[Container],
        status: Annotated[DesignStatusName | None, QueryParameter()] = None,
        mine: Annotated[bool, QueryParameter(description="Only my own requests")] = False,
        limit: Annotated[int, QueryParameter(ge=1, le=100)] = 20,
        cursor: Annotated[str | None, QueryParameter(max_length=500)] = None,
        min_position: Annotated[
            int | None,
            QueryParameter(ge=0, description="Wait until the gallery has applied this position"),
        ] = None,
    ) -> DesignPage:
        """The gallery, newest first: published designs, or (for the studio) any status."""
        position = await caught_up(
            db_pool, "designs", min_position, container.settings.read_wait_timeout_seconds
        )
        public_only = not _sees_everything(request)
        page = await list_designs(
            db_pool,
            DesignFilter(
                status=status,
                requested_by=principal_of(request).actor if mine else None,
                public_only=public_only,
            ),
            limit,
            cursor,
        )
        return DesignPage(
            items=[design_summary(row) for row in page.items],
            next_cursor=page.next_cursor,
            position=position,
        )

    @get("/{design_id:uuid}", operation_id="getDesign")
    async def get_design(
        self,
        request: Request[Any, Any, Any],
        design_id: FromPath[uuid.UUID],
        container: NamedDependency[Container],
    ) -> Response[DesignOut]:
        """A design from its event stream: status, image, scores and provenance."""
        design = await _visible_design(request, container, design_id)
        return Response(design_out(design), headers=version_headers(design.version, None))

    @post(
        "/{design_id:uuid}/publish",
        operation_id="publishDesign",
        guards=[requires_role(*STUDIO_ROLES)],
        status_code=200,
    )
    async def publish(
        self,
        request: Request[Any, Any, Any],
        design_id: FromPath[uuid.UUID],
        container: NamedDependency[Container],
        if_match: IfMatch = None,
    ) -> Response[DesignOut]:
        """Show an evaluated design in the public gallery (409 before it is evaluated)."""
        result = await in_thread(
            request,
            lambda: container.designs.publish(
                design_id, expected_version=expected_version(if_match)
            ),
        )
        return Response(
            design_out(result.aggregate, result.position),
            headers=version_headers(result.aggregate.version, result.position),
        )

    @post(
        "/{design_id:uuid}/archive",
        operation_id="archiveDesign",
        guards=[requires_role(*STUDIO_ROLES)],
        status_code=200,
    )
    async def archive(
        self,
        request: Request[Any, Any, Any],
        design_id: FromPath[uuid.UUID],
        data: JSONBody[Archival],
        container: NamedDependency[Container],
        if_match: IfMatch = None,
    ) -> Response[DesignOut]:
        """Retire a design from the gallery and from similarity search."""
        result = await in_thread(
            request,
            lambda: container.designs.archive(
                design_id, data.reason, expected_version=expected_version(if_match)
            ),
        )
        return Response(
            design_out(result.aggregate, result.position),
            headers=version_headers(result.aggregate.version, result.position),
        )

    @get(
        "/{design_id:uuid}/similar-products",
        operation_id="similarProducts",
        guards=[requires_role(*SEARCH_ROLES)],
    )
    async def similar_products(
        self,
        request: Request[Any, Any, Any],
        design_id: FromPath[uuid.UUID],
        container: NamedDependency[Container],
        db_pool: NamedDependency[asyncpg.Pool],
        vectors: NamedDependency[VectorIndexFollower],
        limit: Annotated[int, QueryParameter(ge=1, le=100)] = 20,
        budget: Annotated[int | None, QueryParameter(gt=0, le=10**12)] = None,
        max_price: Annotated[int | None, QueryParameter(ge=0, le=10**12)] = None,
        category: Annotated[str | None, QueryParameter(min_length=1, max_length=100)] = None,
        in_stock_only: Annotated[bool, QueryParameter()] = False,
        currency: Annotated[str | None, QueryParameter(pattern="^[A-Z]{3}$")] = None,
    ) -> SearchResults:
        """Catalog products that look like the design, ranked with score components.

        Uses the embedding stored with the design (no model runs); 409 until the design has
        been embedded. ``budget`` (with ``currency``) is soft, ``max_price`` a hard cap.
        """
        started = time.perf_counter()
        options = search_options(
            limit=limit,
            budget=budget,
            max_price=max_price,
            category=category,
            in_stock_only=in_stock_only,
            currency=currency,
        )
        check_options(options)
        design = await _visible_design(request, container, design_id)
        embedding = design.embedding()
        if embedding is None:
            raise InvariantViolationError(
                f"design {design_id} is {design.status.value}: it has no embedding yet"
            )
        model_id, vector_f16 = embedding
        return await run_search(
            request,
            query_type="design",
            query_text=str(design_id),
            model_id=model_id,
            vector=from_f16_bytes(vector_f16),
            options=options,
            started=started,
            pool=db_pool,
            vectors=vectors,
            settings=container.settings,
        )
