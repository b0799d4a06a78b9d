"""Finance: revenue by day and the ledger balance of an order, read from the ledger read model."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Annotated, Any

import asyncpg
from litestar import Controller, Request, Response, get
from litestar.di import NamedDependency
from litestar.exceptions import ValidationException
from litestar.params import FromPath, QueryParameter

from domain.shared.money import validate_currency
from infrastructure.bootstrap import Container
from interfaces.http.auth import requires_role
from interfaces.http.context import caught_up, read_in_thread
from interfaces.http.errors import EXCEPTION_HANDLERS
from interfaces.http.finance_schemas import (
    OrderBalanceOut,
    RevenueOut,
    order_balance_out,
    revenue_out,
)
from projections.finance import MAX_REPORT_DAYS, order_balance, revenue_by_day

READ_MODEL = "finance"
MinPosition = Annotated[
    int | None,
    QueryParameter(
        ge=0,
        description="Wait until the ledger read model has applied this position "
        "(read-your-writes); 503 with Retry-After if it has not in time",
    ),
]


def _query_error(name: str, reason: str) -> ValidationException:
    return ValidationException(
        detail=f"{name}: {reason}", extra=[{"key": name, "message": reason, "source": "query"}]
    )


# Python cannot name a parameter "from": problems name the query parameters, not ours.
_QUERY_NAMES = {"start": "from", "end": "to"}


def _query_names(request: Request[Any, Any, Any], exc: ValidationException) -> Response[Any]:
    for item in exc.extra if isinstance(exc.extra, list) else []:
        if isinstance(item, dict) and item.get("key") in _QUERY_NAMES:
            item["key"] = _QUERY_NAMES[item["key"]]
            item["source"] = "query"
    return EXCEPTION_HANDLERS[ValidationException](request, exc)


class FinanceController(Controller):
    path = "/finance"
    tags = ["finance"]
    guards = [requires_role("operator")]
    exception_handlers = {ValidationException: _query_names}

    @get("/revenue", operation_id="revenueByDay")
    async def revenue(
        self,
        db_pool: NamedDependency[asyncpg.Pool],
        container: NamedDependency[Container],
        start: Annotated[
            date, QueryParameter(name="from", description="First UTC day, YYYY-MM-DD")
        ],
        end: Annotated[
            date, QueryParameter(name="to", description="Last UTC day (inclusive), YYYY-MM-DD")
        ],
        currency: Annotated[
            str, QueryParameter(pattern="^[A-Z]{3}$", description="ISO 4217 code, e.g. EUR")
        ],
        min_position: MinPosition = None,
    ) -> RevenueOut:
        """Gross, refunds, net and payment count per UTC day of one currency, from the ledger.

        A payment or refund counts on the day it happened, whenever it reached the ledger.
        """
        if end < start:
            raise _query_error("to", "must not be before 'from'")
        if (end - start).days >= MAX_REPORT_DAYS:
            raise _query_error("to", f"a report covers at most {MAX_REPORT_DAYS} days")
        validate_currency(currency)
        position = await caught_up(
            db_pool, READ_MODEL, min_position, container.settings.read_wait_timeout_seconds
        )
        days = await revenue_by_day(db_pool, currency, start, end)
        return revenue_out(currency, start, end, days, position)

    @get("/orders/{order_id:uuid}/balance", operation_id="orderBalance")
    async def order_balance(
        self,
        order_id: FromPath[uuid.UUID],
        db_pool: NamedDependency[asyncpg.Pool],
        container: NamedDependency[Container],
        min_position: MinPosition = None,
    ) -> OrderBalanceOut:
        """What the ledger holds for one order: paid, refunded, balance and its entry lines."""
        order = await read_in_thread(container.orders.get_order, order_id)
        position = await caught_up(
            db_pool, READ_MODEL, min_position, container.settings.read_wait_timeout_seconds
        )
        row = await order_balance(db_pool, order_id)
        return order_balance_out(order_id, order.total.currency, row, position)
