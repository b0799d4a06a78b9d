"""Products: list, read, reprice, restock, delist."""

from __future__ import annotations

import uuid
from typing import Annotated, Any, Literal

import asyncpg
from litestar import Controller, Request, Response, delete, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, HeaderParameter, JSONBody, QueryParameter

from application.catalog import ListProduct
from domain.shared.errors import ValidationError
from domain.shared.money import Money
from infrastructure.bootstrap import Container
from interfaces.http.auth import requires_role
from interfaces.http.context import caught_up, in_thread, read_in_thread
from interfaces.http.presenters import product_out, product_summary, version_headers
from interfaces.http.schemas import (
    PriceChange,
    ProductCreate,
    ProductOut,
    ProductPage,
    StockAdjustment,
)
from projections.queries import ProductFilter, list_products

IfMatch = Annotated[
    str | None,
    HeaderParameter(
        name="If-Match",
        required=False,
        description="Expected version (the ETag); a mismatch is a 409",
    ),
]


def expected_version(if_match: str | None) -> int | None:
    """Parse an If-Match ETag ("3" or 3) into a version number."""
    if if_match is None:
        return None
    raw = if_match.strip().removeprefix("W/").strip('"')
    if not raw.isdigit():
        raise ValidationError('If-Match must be the ETag of a version, e.g. "3"', "If-Match")
    return int(raw)


class ProductController(Controller):
    path = "/products"
    tags = ["products"]

    @post("/", operation_id="listProduct", guards=[requires_role("merchant")], status_code=201)
    async def list_product(
        self,
        request: Request[Any, Any, Any],
        data: JSONBody[ProductCreate],
        container: NamedDependency[Container],
    ) -> Response[ProductOut]:
        """List a new product (stock starts at zero)."""
        result = await in_thread(
            request,
            container.catalog.list_product,
            ListProduct(
                title=data.title,
                description=data.description,
                category=data.category,
                brand=data.brand,
                price=Money(data.price, data.currency),
            ),
        )
        headers = version_headers(result.aggregate.version, result.position)
        headers["Location"] = f"/products/{result.aggregate.id}"
        return Response(
            product_out(result.aggregate, result.position), status_code=201, headers=headers
        )

    @get("/", operation_id="listProducts")
    async def list_products(
        self,
        db_pool: NamedDependency[asyncpg.Pool],
        container: NamedDependency[Container],
        category: Annotated[str | None, QueryParameter(max_length=100)] = None,
        brand: Annotated[str | None, QueryParameter(max_length=100)] = None,
        min_price: Annotated[int | None, QueryParameter(ge=0)] = None,
        max_price: Annotated[int | None, QueryParameter(ge=0)] = None,
        currency: Annotated[str | None, QueryParameter(pattern="^[A-Z]{3}$")] = None,
        in_stock: Annotated[bool | None, QueryParameter()] = None,
        sort: Annotated[
            Literal["newest", "price_asc", "price_desc", "title"], QueryParameter()
        ] = "newest",
        limit: Annotated[int, QueryParameter(ge=1, le=100)] = 20,
        cursor: Annotated[str | None, QueryParameter(max_length=500)] = None,
        min_position: Annotated[
            int | None,
            QueryParameter(
                ge=0,
                description="Wait until the catalog has applied this position "
                "(read-your-writes); 503 with Retry-After if it has not in time",
            ),
        ] = None,
    ) -> ProductPage:
        """Browse the catalog read model: filter, sort, and page with a cursor."""
        position = await caught_up(
            db_pool, "catalog", min_position, container.settings.read_wait_timeout_seconds
        )
        page = await list_products(
            db_pool,
            ProductFilter(
                category=category,
                brand=brand,
                min_price=min_price,
                max_price=max_price,
                currency=currency,
                in_stock=in_stock,
            ),
            sort,
            limit,
            cursor,
        )
        return ProductPage(
            items=[product_summary(row) for row in page.items],
            next_cursor=page.next_cursor,
            position=position,
        )

    @get("/{product_id:uuid}", operation_id="getProduct")
    async def get_product(
        self, product_id: FromPath[uuid.UUID], container: NamedDependency[Container]
    ) -> ProductOut:
        """Read a product straight from its event stream."""
        product = await read_in_thread(container.catalog.get_product, product_id)
        return product_out(product)

    @post(
        "/{product_id:uuid}/price",
        operation_id="changePrice",
        guards=[requires_role("merchant")],
        status_code=200,
    )
    async def change_price(
        self,
        request: Request[Any, Any, Any],
        product_id: FromPath[uuid.UUID],
        data: JSONBody[PriceChange],
        container: NamedDependency[Container],
        if_match: IfMatch = None,
    ) -> Response[ProductOut]:
        """Set a new price in the product's currency."""
        result = await in_thread(
            request,
            lambda: container.catalog.change_price(
                product_id,
                Money(data.price, data.currency),
                expected_version=expected_version(if_match),
            ),
        )
        return Response(
            product_out(result.aggregate, result.position),
            headers=version_headers(result.aggregate.version, result.position),
        )

    @post(
        "/{product_id:uuid}/stock-adjustments",
        operation_id="adjustStock",
        guards=[requires_role("merchant")],
        status_code=200,
    )
    async def adjust_stock(
        self,
        request: Request[Any, Any, Any],
        product_id: FromPath[uuid.UUID],
        data: JSONBody[StockAdjustment],
        container: NamedDependency[Container],
        if_match: IfMatch = None,
    ) -> Response[ProductOut]:
        """Receive (+) or write off (-) units; stock never goes below what is reserved."""
        result = await in_thread(
            request,
            lambda: container.catalog.adjust_stock(
                product_id, data.delta, data.reason, expected_version=expected_version(if_match)
            ),
        )
        return Response(
            product_out(result.aggregate, result.position),
            headers=version_headers(result.aggregate.version, result.position),
        )

    @delete(
        "/{product_id:uuid}",
        operation_id="delistProduct",
        guards=[requires_role("merchant")],
        status_code=200,
    )
    async def delist(
        self,
        request: Request[Any, Any, Any],
        product_id: FromPath[uuid.UUID],
        container: NamedDependency[Container],
        if_match: IfMatch = None,
        reason: Annotated[str, QueryParameter(name="reason", max_length=200)] = "",
    ) -> Response[ProductOut]:
        """Stop selling a product."""
        result = await in_thread(
            request,
            lambda: container.catalog.delist(
                product_id, reason, expected_version=expected_version(if_match)
            ),
        )
        return Response(
            product_out(result.aggregate, result.position),
            headers=version_headers(result.aggregate.version, result.position),
        )
