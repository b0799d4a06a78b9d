"""Campaigns through the API: merchants draft, launch and end; orders are attributed."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from tests.conftest import bearer

MERCHANT = bearer("merchant", "m-1")
OPERATOR = bearer("operator", "op-1")
ALICE = bearer("customer", "alice")
BOB = bearer("customer", "bob")
CAROL = bearer("customer", "carol")


async def draft(api: Any, code: str, **extra: Any) -> dict[str, Any]:
    response = await api.post(
        "/campaigns", headers=MERCHANT, json={"code": code, "name": f"Campaign {code}", **extra}
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def a_product(api: Any, price: int = 8000) -> str:
    created = await api.post(
        "/products",
        headers=MERCHANT,
        json={
            "title": "Trench",
            "category": "coats",
            "brand": "b",
            "price": price,
            "currency": "EUR",
        },
    )
    product_id: str = created.json()["id"]
    await api.post(
        f"/products/{product_id}/stock-adjustments", headers=MERCHANT, json={"delta": 20}
    )
    return product_id


async def order_with(api: Any, who: dict[str, str], product_id: str, code: str | None) -> Any:
    body: dict[str, Any] = {"currency": "EUR", "lines": [{"product_id": product_id, "quantity": 1}]}
    if code is not None:
        body["campaign_code"] = code
    return await api.post("/orders", headers=who, json=body)


async def test_draft_launch_end(api: Any) -> None:
    campaign = await draft(api, "spring-24", discount_percent=15, note="linen week")
    assert campaign["code"] == "SPRING-24" and campaign["status"] == "drafted"
    launched = await api.post(f"/campaigns/{campaign['id']}/launch", headers=MERCHANT)
    assert launched.status_code == 200 and launched.json()["status"] == "launched"
    stale = await api.post(
        f"/campaigns/{campaign['id']}/end", headers={**MERCHANT, "If-Match": '"1"'}
    )
    assert stale.status_code == 409
    ended = await api.post(
        f"/campaigns/{campaign['id']}/end", headers=MERCHANT, params={"reason": "season over"}
    )
    assert ended.status_code == 200 and ended.json()["status"] == "ended"
    relaunch = await api.post(f"/campaigns/{campaign['id']}/launch", headers=MERCHANT)
    assert relaunch.status_code == 409
    read = await api.get(f"/campaigns/{campaign['id']}", headers=OPERATOR)
    assert read.json()["status"] == "ended" and read.headers["etag"] == '"3"'


async def test_a_code_is_unique_whatever_its_case(api: Any) -> None:
    await draft(api, "SUMMER")
    again = await api.post(
        "/campaigns", headers=MERCHANT, json={"code": "summer", "name": "Another"}
    )
    assert again.status_code == 409
    assert again.headers["content-type"].startswith("application/problem+json")
    assert "taken" in again.json()["detail"]


async def test_bad_campaign_input_is_a_4xx(api: Any) -> None:
    malformed = await api.post(
        "/campaigns", headers=MERCHANT, json={"code": "no spaces!", "name": "x"}
    )
    assert malformed.status_code == 422
    assert malformed.json()["invalid_params"][0]["name"] == "code"
    too_big = await api.post(
        "/campaigns", headers=MERCHANT, json={"code": "BIG", "name": "x", "discount_percent": 95}
    )
    assert too_big.status_code == 400
    unknown_field = await api.post(
        "/campaigns", headers=MERCHANT, json={"code": "ODD", "name": "x", "price": 1}
    )
    assert unknown_field.status_code == 400
    missing = await api.post(
        "/campaigns/7d1c4a9e-0000-4000-8000-000000000000/launch", headers=MERCHANT
    )
    assert missing.status_code == 404
    bad_status = await api.get("/campaigns", headers=MERCHANT, params={"status": "paused"})
    assert bad_status.status_code == 400
    bad_code = await api.get("/campaigns/a%20b/analytics", headers=MERCHANT)
    assert bad_code.status_code == 422
    no_such = await api.get("/campaigns/NOPE-1/analytics", headers=MERCHANT)
    assert no_such.status_code == 404


async def test_campaign_routes_need_a_token_and_the_right_role(api: Any) -> None:
    campaign = await draft(api, "ROLES")
    anonymous = [
        api.post("/campaigns", json={"code": "ANON", "name": "x"}),
        api.post(f"/campaigns/{campaign['id']}/launch"),
        api.post(f"/campaigns/{campaign['id']}/end"),
        api.get("/campaigns"),
        api.get(f"/campaigns/{campaign['id']}"),
        api.get("/campaigns/ROLES/analytics"),
    ]
    for response in await asyncio.gather(*anonymous):
        assert response.status_code == 401, response.url
    forbidden = [
        api.post("/campaigns", headers=ALICE, json={"code": "CUST", "name": "x"}),
        api.post("/campaigns", headers=OPERATOR, json={"code": "OPER", "name": "x"}),
        api.post(f"/campaigns/{campaign['id']}/launch", headers=ALICE),
        api.post(f"/campaigns/{campaign['id']}/end", headers=OPERATOR),
        api.get("/campaigns", headers=ALICE),
        api.get(f"/campaigns/{campaign['id']}", headers=ALICE),
        api.get("/campaigns/ROLES/analytics", headers=bearer("partner", "p-1")),
    ]
    for response in await asyncio.gather(*forbidden):
        assert response.status_code == 403, response.url


async def test_orders_with_unknown_or_idle_codes_are_refused(api: Any) -> None:
    product_id = await a_product(api)
    await draft(api, "NOT-YET")
    for code, reason in (
        ("NOPE", "does not exist"),
        ("not-yet", "drafted, not running"),
        ("x", "a campaign code has"),
    ):
        refused = await order_with(api, ALICE, product_id, code)
        assert refused.status_code == 422, refused.text
        problem = refused.json()
        assert reason in problem["detail"]
        assert problem["invalid_params"][0]["name"] == "campaign_code"
    plain = await order_with(api, ALICE, product_id, None)
    assert plain.status_code == 201 and plain.json()["campaign_code"] is None


async def test_attributed_orders_give_conversion_and_revenue(api: Any, full_pipeline: Any) -> None:
    product_id = await a_product(api, price=8000)
    campaign = await draft(api, "AUTUMN")
    await api.post(f"/campaigns/{campaign['id']}/launch", headers=MERCHANT)
    orders = []
    for who, code in ((ALICE, "autumn"), (BOB, "AUTUMN"), (CAROL, "Autumn")):
        placed = await order_with(api, who, product_id, code)
        assert placed.status_code == 201, placed.text
        assert placed.json()["campaign_code"] == "AUTUMN"
        orders.append((who, placed.json()))
    unattributed = await order_with(api, ALICE, product_id, None)
    assert unattributed.status_code == 201
    for who, order in orders[:2]:
        paid = await api.post(
            f"/orders/{order['id']}/payments",
            headers=who,
            json={"amount": 8000, "currency": "EUR", "method": "card", "provider_ref": "psp"},
        )
        assert paid.status_code == 201, paid.text
    # Ending the campaign keeps what it attributed; cancelling a paid order refunds it.
    await api.post(f"/campaigns/{campaign['id']}/end", headers=MERCHANT)
    await api.post(f"/orders/{orders[1][1]['id']}/cancel", headers=BOB, json={"reason": "no"})

    deadline = time.monotonic() + 30
    while True:
        response = await api.get("/campaigns/autumn/analytics", headers=MERCHANT)
        assert response.status_code in (200, 404), response.text
        if response.status_code == 200 and response.json()["revenue"] == [
            {"amount": 8000, "currency": "EUR"}
        ]:
            break
        assert time.monotonic() < deadline, response.text
        await asyncio.sleep(0.1)
    analytics = response.json()
    assert analytics["code"] == "AUTUMN" and analytics["status"] == "ended"
    assert (analytics["orders"], analytics["paid_orders"]) == (3, 2)
    assert analytics["conversion"] == round(2 / 3, 4)

    listed = await api.get(
        "/campaigns",
        headers=OPERATOR,
        params={"status": "ended", "min_position": analytics["position"]},
    )
    assert [c["code"] for c in listed.json()["items"]] == ["AUTUMN"]
