"""Orders: place, read, pay, cancel. Customers see only their own orders."""

from __future__ import annotations

import uuid
from typing import Annotated, Any, Literal

import asyncpg
from litestar import Controller, Request, Response, get, post
from litestar.di import NamedDependency
from litestar.openapi import ResponseSpec
from litestar.params import FromPath, HeaderParameter, JSONBody, QueryParameter

from application.errors import PermissionDeniedError
from application.orders import PlaceOrder, RecordPayment, RequestedLine
from domain.orders.aggregates import Order
from domain.shared.money import Money
from infrastructure.bootstrap import Container
from infrastructure.idempotency import IdempotencyStore
from interfaces.http.auth import requires_role
from interfaces.http.context import (
    caught_up,
    idempotent,
    in_thread,
    json_response,
    principal_of,
    read_in_thread,
)
from interfaces.http.presenters import order_out, order_summary, version_headers
from interfaces.http.schemas import Cancellation, OrderCreate, OrderOut, OrderPage, PaymentCreate
from projections.queries import list_orders

IdempotencyKey = Annotated[
    str | None,
    HeaderParameter(
        name="Idempotency-Key",
        required=False,
        description="Retrying with the same key replays the first response and writes nothing",
    ),
]
STAFF_ROLES = ("merchant", "operator")


async def _load_visible_order(
    request: Request[Any, Any, Any],
    container: NamedDependency[Container],
    order_id: FromPath[uuid.UUID],
) -> Order:
    order = await read_in_thread(container.orders.get_order, order_id)
    principal = principal_of(request)
    if principal.role not in STAFF_ROLES and order.customer_id != principal.sub:
        raise PermissionDeniedError("this order belongs to another customer")
    return order


class OrderController(Controller):
    path = "/orders"
    tags = ["orders"]

    @post(
        "/",
        operation_id="placeOrder",
        guards=[requires_role("customer")],
        status_code=201,
        responses={201: ResponseSpec(OrderOut, description="The order, priced from the catalog")},
    )
    async def place_order(
        self,
        request: Request[Any, Any, Any],
        data: JSONBody[OrderCreate],
        container: NamedDependency[Container],
        idempotency: NamedDependency[IdempotencyStore],
        idempotency_key: IdempotencyKey = None,
    ) -> Response[bytes]:
        """Place an order at today's catalog prices."""
        customer = principal_of(request).sub

        async def produce() -> Response[bytes]:
            result = await in_thread(
                request,
                container.orders.place_order,
                PlaceOrder(
                    customer_id=customer,
                    currency=data.currency,
                    lines=[RequestedLine(line.product_id, line.quantity) for line in data.lines],
                    campaign_code=data.campaign_code,
                    idempotency_key=idempotency_key,
                ),
            )
            headers = version_headers(result.aggregate.version, result.position)
            headers["Location"] = f"/orders/{result.aggregate.id}"
            return json_response(order_out(result.aggregate, result.position), 201, headers)

        return await idempotent(request, idempotency_key, idempotency, produce)

    @get("/", operation_id="listOrders")
    async def list_orders(
        self,
        request: Request[Any, Any, Any],
        db_pool: NamedDependency[asyncpg.Pool],
        container: NamedDependency[Container],
        customer_id: Annotated[str | None, QueryParameter(max_length=200)] = None,
        status: Annotated[
            Literal["placed", "confirmed", "rejected", "paid", "shipped", "cancelled"] | None,
            QueryParameter(),
        ] = None,
        limit: Annotated[int, QueryParameter(ge=1, le=100)] = 20,
        cursor: Annotated[str | None, QueryParameter(max_length=500)] = None,
        min_position: Annotated[int | None, QueryParameter(ge=0)] = None,
    ) -> OrderPage:
        """Order history, newest first: customers see their own, staff see everyone's."""
        principal = principal_of(request)
        if principal.role not in STAFF_ROLES:
            if customer_id not in (None, principal.sub):
                raise PermissionDeniedError("customers list only their own orders")
            customer_id = principal.sub
        position = await caught_up(
            db_pool, "orders", min_position, container.settings.read_wait_timeout_seconds
        )
        page = await list_orders(db_pool, customer_id, status, limit, cursor)
        return OrderPage(
            items=[order_summary(row) for row in page.items],
            next_cursor=page.next_cursor,
            position=position,
        )

    @get("/{order_id:uuid}", operation_id="getOrder")
    async def get_order(
        self,
        request: Request[Any, Any, Any],
        order_id: FromPath[uuid.UUID],
        container: NamedDependency[Container],
    ) -> Response[OrderOut]:
        """Read one order (its customer, merchants and operators only)."""
        order = await _load_visible_order(request, container, order_id)
        return Response(order_out(order), headers=version_headers(order.version, None))

    @post(
        "/{order_id:uuid}/payments",
        operation_id="recordPayment",
        guards=[requires_role("customer", "operator")],
        status_code=201,
        responses={201: ResponseSpec(OrderOut, description="The order with the payment")},
    )
    async def record_payment(
        self,
        request: Request[Any, Any, Any],
        order_id: FromPath[uuid.UUID],
        data: JSONBody[PaymentCreate],
        container: NamedDependency[Container],
        idempotency: NamedDependency[IdempotencyStore],
        idempotency_key: IdempotencyKey = None,
    ) -> Response[bytes]:
        """Record a payment; the order is paid once payments cover its total."""
        await _load_visible_order(request, container, order_id)

        async def produce() -> Response[bytes]:
            result = await in_thread(
                request,
                container.orders.record_payment,
                RecordPayment(
                    order_id=order_id,
                    amount=Money(data.amount, data.currency),
                    method=data.method,
                    provider_ref=data.provider_ref,
                    idempotency_key=idempotency_key,
                ),
            )
            return json_response(
                order_out(result.aggregate, result.position),
                201,
                version_headers(result.aggregate.version, result.position),
            )

        return await idempotent(request, idempotency_key, idempotency, produce)

    @post("/{order_id:uuid}/cancel", operation_id="cancelOrder", status_code=200)
    async def cancel_order(
        self,
        request: Request[Any, Any, Any],
        order_id: FromPath[uuid.UUID],
        data: JSONBody[Cancellation],
        container: NamedDependency[Container],
    ) -> Response[OrderOut]:
        """Cancel an order that has not shipped."""
        await _load_visible_order(request, container, order_id)
        result = await in_thread(request, container.orders.cancel_order, order_id, data.reason)
        return Response(
            order_out(result.aggregate, result.position),
            headers=version_headers(result.aggregate.version, result.position),
        )
