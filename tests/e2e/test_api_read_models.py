"""List endpoints read the projections; min_position gives read-your-writes."""

from __future__ import annotations

from typing import Any

from tests.conftest import bearer

MERCHANT = bearer("merchant", "m-1")
ALICE = bearer("customer", "alice")
BOB = bearer("customer", "bob")


async def list_product(api: Any, title: str, category: str, price: int, stock: int) -> int:
    created = await api.post(
        "/products",
        headers=MERCHANT,
        json={
            "title": title,
            "category": category,
            "brand": "Maison",
            "price": price,
            "currency": "EUR",
        },
    )
    assert created.status_code == 201, created.text
    position: int = created.json()["position"]
    if stock:
        adjusted = await api.post(
            f"/products/{created.json()['id']}/stock-adjustments",
            headers=MERCHANT,
            json={"delta": stock},
        )
        position = adjusted.json()["position"]
    return position


async def test_a_listed_product_is_visible_when_asking_for_its_position(
    api: Any, pipeline: Any
) -> None:
    position = await list_product(api, "Cashmere jumper", "knitwear", 18900, 3)
    response = await api.get("/products", params={"min_position": position}, headers=ALICE)
    assert response.status_code == 200, response.text
    page = response.json()
    assert page["position"] >= position
    [item] = [i for i in page["items"] if i["title"] == "Cashmere jumper"]
    assert item["stock"] == {"on_hand": 3, "reserved": 0, "available": 3}


async def test_filters_sorting_and_cursor_pagination(api: Any, pipeline: Any) -> None:
    last = 0
    for index, price in enumerate([5000, 1500, 9000, 3000, 7000]):
        last = await list_product(api, f"Dress {index}", "dresses", price, index % 2)
    await list_product(api, "Hat", "hats", 2000, 1)
    seen: list[int] = []
    cursor = None
    while True:
        params: dict[str, Any] = {
            "category": "dresses",
            "sort": "price_asc",
            "limit": 2,
            "min_position": last,
        }
        if cursor:
            params["cursor"] = cursor
        page = (await api.get("/products", params=params, headers=ALICE)).json()
        seen += [item["price"]["amount"] for item in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == [1500, 3000, 5000, 7000, 9000]
    in_stock = (
        await api.get(
            "/products",
            headers=ALICE,
            params={"category": "dresses", "in_stock": "true", "max_price": 6000},
        )
    ).json()
    assert sorted(i["price"]["amount"] for i in in_stock["items"]) == [1500, 3000]


async def test_customers_see_only_their_own_order_history(api: Any, pipeline: Any) -> None:
    created = await api.post(
        "/products",
        headers=MERCHANT,
        json={"title": "Tote", "category": "bags", "brand": "b", "price": 4000, "currency": "EUR"},
    )
    product_id = created.json()["id"]
    body = {"currency": "EUR", "lines": [{"product_id": product_id, "quantity": 1}]}
    await api.post("/orders", headers=ALICE, json=body)
    bobs = await api.post("/orders", headers=BOB, json=body)
    position = bobs.json()["position"]
    alice_history = (
        await api.get("/orders", headers=ALICE, params={"min_position": position})
    ).json()
    assert {o["customer_id"] for o in alice_history["items"]} == {"alice"}
    forbidden = await api.get("/orders", headers=ALICE, params={"customer_id": "bob"})
    assert forbidden.status_code == 403
    staff = (await api.get("/orders", headers=MERCHANT, params={"min_position": position})).json()
    assert {o["customer_id"] for o in staff["items"]} == {"alice", "bob"}


async def test_waiting_for_a_position_never_reached_is_a_503_with_retry_after(api: Any) -> None:
    response = await api.get("/products", headers=ALICE, params={"min_position": 10**9})
    assert response.status_code == 503
    assert response.headers["retry-after"] == "1"
    assert response.json()["type"] == "/problems/stale-read-model"


async def test_a_forged_cursor_is_a_400(api: Any, pipeline: Any) -> None:
    response = await api.get("/products", headers=ALICE, params={"cursor": "bm9wZQ"})
    assert response.status_code == 400
    assert response.json()["invalid_params"][0]["name"] == "cursor"
