"""The finance API: operator-only, clear 4xx on bad input, empty before any payment."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

from tests.conftest import bearer

OPERATOR = bearer("operator", "op-1")
MERCHANT = bearer("merchant", "m-1")
ALICE = bearer("customer", "alice")
REVENUE = {"from": "2025-01-01", "to": "2025-01-31", "currency": "EUR"}


async def an_order(api: Any) -> str:
    product = await api.post(
        "/products",
        headers=MERCHANT,
        json={"title": "Cap", "category": "hats", "brand": "b", "price": 2500, "currency": "EUR"},
    )
    placed = await api.post(
        "/orders",
        headers=ALICE,
        json={"currency": "EUR", "lines": [{"product_id": product.json()["id"], "quantity": 1}]},
    )
    assert placed.status_code == 201, placed.text
    order_id: str = placed.json()["id"]
    return order_id


async def test_finance_routes_need_an_operator_token(api: Any) -> None:
    order_id = await an_order(api)
    paths = ["/finance/revenue", f"/finance/orders/{order_id}/balance"]
    anonymous = await asyncio.gather(*(api.get(p, params=REVENUE) for p in paths))
    assert [r.status_code for r in anonymous] == [401, 401]
    assert all(r.headers["content-type"].startswith("application/problem+json") for r in anonymous)
    for role in (MERCHANT, ALICE, bearer("partner", "p-1"), bearer("designer", "d-1")):
        forbidden = await asyncio.gather(*(api.get(p, headers=role, params=REVENUE) for p in paths))
        assert [r.status_code for r in forbidden] == [403, 403]


async def test_revenue_before_any_payment_is_empty(api: Any) -> None:
    response = await api.get("/finance/revenue", headers=OPERATOR, params=REVENUE)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["days"] == []
    assert body["totals"]["net"] == {"amount": 0, "currency": "EUR"}
    assert (body["from"], body["to"], body["currency"]) == ("2025-01-01", "2025-01-31", "EUR")


async def test_bad_revenue_queries_are_400s_naming_the_parameter(api: Any) -> None:
    cases = [
        ({**REVENUE, "from": "2025-02-01"}, "to"),
        ({**REVENUE, "to": "2026-06-01"}, "to"),
        ({**REVENUE, "from": "2025-13-01"}, "from"),
        ({**REVENUE, "currency": "eur"}, "currency"),
    ]
    for params, name in cases:
        response = await api.get("/finance/revenue", headers=OPERATOR, params=params)
        assert response.status_code == 400, (params, response.text)
        problem = response.json()
        assert name in {p["name"] for p in problem["invalid_params"]}, problem
    for params, name in (
        ({"from": "2025-01-01", "to": "2025-01-02"}, "currency"),
        ({"to": "2025-01-02", "currency": "EUR"}, "from"),
    ):
        missing = await api.get("/finance/revenue", headers=OPERATOR, params=params)
        assert missing.status_code == 400
        assert f"Missing required query parameter '{name}'" in missing.json()["detail"]
    unsupported = await api.get(
        "/finance/revenue", headers=OPERATOR, params={**REVENUE, "currency": "XTS"}
    )
    assert unsupported.status_code == 422


async def test_an_unpaid_order_has_a_zero_balance_and_an_unknown_one_is_404(api: Any) -> None:
    order_id = await an_order(api)
    response = await api.get(f"/finance/orders/{order_id}/balance", headers=OPERATOR)
    assert response.status_code == 200, response.text
    assert response.json()["balance"] == {"amount": 0, "currency": "EUR"}
    assert response.json()["lines"] == []
    missing = await api.get(f"/finance/orders/{uuid.uuid4()}/balance", headers=OPERATOR)
    assert missing.status_code == 404
    not_a_uuid = await api.get("/finance/orders/nope/balance", headers=OPERATOR)
    assert not_a_uuid.status_code == 404
