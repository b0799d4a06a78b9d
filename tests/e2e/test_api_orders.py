"""The HTTP API as a new user drives it: merchant lists, customer orders and pays."""

from __future__ import annotations

import uuid
from typing import Any

from tests.conftest import bearer

MERCHANT = bearer("merchant", "m-1")
ALICE = bearer("customer", "alice")
BOB = bearer("customer", "bob")


async def list_product(api: Any, stock: int = 5, price: int = 12900) -> str:
    response = await api.post(
        "/products",
        headers=MERCHANT,
        json={
            "title": "Silk slip dress",
            "category": "Dresses",
            "brand": "Maison Lune",
            "price": price,
            "currency": "EUR",
        },
    )
    assert response.status_code == 201, response.text
    product_id: str = response.json()["id"]
    response = await api.post(
        f"/products/{product_id}/stock-adjustments",
        headers=MERCHANT,
        json={"delta": stock, "reason": "first delivery"},
    )
    assert response.status_code == 200, response.text
    return product_id


async def test_customer_places_pays_and_reads_an_order(api: Any) -> None:
    product_id = await list_product(api)
    body = {"currency": "EUR", "lines": [{"product_id": product_id, "quantity": 2}]}
    first = await api.post("/orders", json=body, headers={**ALICE, "Idempotency-Key": "o-1"})
    again = await api.post("/orders", json=body, headers={**ALICE, "Idempotency-Key": "o-1"})
    assert first.status_code == again.status_code == 201
    assert first.json() == again.json()
    assert again.headers["idempotent-replayed"] == "true"
    order = first.json()
    assert order["total"] == {"amount": 25800, "currency": "EUR"}
    assert order["position"] > 0

    payment = {"amount": 25800, "currency": "EUR", "method": "card", "provider_ref": "psp_9"}
    paid = await api.post(
        f"/orders/{order['id']}/payments",
        json=payment,
        headers={**ALICE, "Idempotency-Key": "pay-1"},
    )
    assert paid.status_code == 201, paid.text
    replay = await api.post(
        f"/orders/{order['id']}/payments",
        json=payment,
        headers={**ALICE, "Idempotency-Key": "pay-1"},
    )
    assert replay.json() == paid.json()
    read = await api.get(f"/orders/{order['id']}", headers=ALICE)
    assert read.json()["status"] == "paid"
    assert read.json()["paid"]["amount"] == 25800


async def test_another_customer_gets_403_on_my_order(api: Any) -> None:
    product_id = await list_product(api)
    placed = await api.post(
        "/orders",
        headers=ALICE,
        json={"currency": "EUR", "lines": [{"product_id": product_id, "quantity": 1}]},
    )
    response = await api.get(f"/orders/{placed.json()['id']}", headers=BOB)
    assert response.status_code == 403
    assert response.headers["content-type"].startswith("application/problem+json")


async def test_reusing_an_idempotency_key_for_another_body_is_refused(api: Any) -> None:
    product_id = await list_product(api)
    headers = {**ALICE, "Idempotency-Key": "shared"}
    ok = await api.post(
        "/orders",
        headers=headers,
        json={"currency": "EUR", "lines": [{"product_id": product_id, "quantity": 1}]},
    )
    assert ok.status_code == 201
    reused = await api.post(
        "/orders",
        headers=headers,
        json={"currency": "EUR", "lines": [{"product_id": product_id, "quantity": 2}]},
    )
    assert reused.status_code == 422
    assert reused.json()["type"] == "/problems/idempotency-key-reused"


async def test_malformed_json_is_a_400_problem(api: Any) -> None:
    response = await api.post(
        "/orders",
        content=b'{"currency": "EUR", ',
        headers={**ALICE, "Content-Type": "application/json"},
    )
    assert response.status_code == 400
    assert response.json()["type"] == "/problems/malformed-body"


async def test_negative_quantity_names_the_field(api: Any) -> None:
    product_id = await list_product(api)
    response = await api.post(
        "/orders",
        headers=ALICE,
        json={"currency": "EUR", "lines": [{"product_id": product_id, "quantity": -1}]},
    )
    assert response.status_code == 400
    assert response.json()["invalid_params"][0]["name"] == "lines[0].quantity"


async def test_unknown_product_is_a_422_naming_the_line(api: Any) -> None:
    response = await api.post(
        "/orders",
        headers=ALICE,
        json={"currency": "EUR", "lines": [{"product_id": str(uuid.uuid4()), "quantity": 1}]},
    )
    assert response.status_code == 422
    assert response.json()["invalid_params"][0]["name"] == "lines[0].product_id"


async def test_wrong_currency_is_a_422(api: Any) -> None:
    product_id = await list_product(api)
    response = await api.post(
        "/orders",
        headers=ALICE,
        json={"currency": "USD", "lines": [{"product_id": product_id, "quantity": 1}]},
    )
    assert response.status_code == 422
    assert response.json()["invalid_params"][0]["name"] == "currency"


async def test_unknown_currency_code_is_refused(api: Any) -> None:
    response = await api.post(
        "/products",
        headers=MERCHANT,
        json={
            "title": "Scarf",
            "category": "accessories",
            "brand": "b",
            "price": 100,
            "currency": "eur",
        },
    )
    assert response.status_code == 400
    assert response.json()["invalid_params"][0]["name"] == "currency"


async def test_missing_token_is_a_401_problem(api: Any) -> None:
    response = await api.post("/orders", json={"currency": "EUR", "lines": []})
    assert response.status_code == 401
    assert response.json()["type"] == "/problems/unauthorized"
    assert response.headers["x-correlation-id"]


async def test_a_customer_cannot_list_products(api: Any) -> None:
    response = await api.post(
        "/products",
        headers=ALICE,
        json={"title": "x", "category": "c", "brand": "b", "price": 1, "currency": "EUR"},
    )
    assert response.status_code == 403


async def test_paying_more_than_the_total_is_a_409(api: Any) -> None:
    product_id = await list_product(api, price=1000)
    order = (
        await api.post(
            "/orders",
            headers=ALICE,
            json={"currency": "EUR", "lines": [{"product_id": product_id, "quantity": 1}]},
        )
    ).json()
    response = await api.post(
        f"/orders/{order['id']}/payments",
        headers=ALICE,
        json={"amount": 1001, "currency": "EUR", "method": "card", "provider_ref": "x"},
    )
    assert response.status_code == 409


async def test_paying_a_cancelled_order_is_a_409(api: Any) -> None:
    product_id = await list_product(api, price=1000)
    order = (
        await api.post(
            "/orders",
            headers=ALICE,
            json={"currency": "EUR", "lines": [{"product_id": product_id, "quantity": 1}]},
        )
    ).json()
    cancelled = await api.post(
        f"/orders/{order['id']}/cancel", headers=ALICE, json={"reason": "changed my mind"}
    )
    assert cancelled.json()["status"] == "cancelled"
    response = await api.post(
        f"/orders/{order['id']}/payments",
        headers=ALICE,
        json={"amount": 1000, "currency": "EUR", "method": "card", "provider_ref": "x"},
    )
    assert response.status_code == 409
    assert response.json()["type"] == "/problems/state-conflict"


async def test_oversized_body_is_a_413(api: Any) -> None:
    response = await api.post(
        "/orders",
        headers={**ALICE, "Content-Type": "application/json"},
        content=b"[" + b"1," * (6 * 1024 * 1024) + b"1]",
    )
    assert response.status_code == 413


async def test_stale_if_match_is_a_409(api: Any) -> None:
    product_id = await list_product(api)
    response = await api.post(
        f"/products/{product_id}/price",
        json={"price": 9900, "currency": "EUR"},
        headers={**MERCHANT, "If-Match": '"1"'},
    )
    assert response.status_code == 409
    assert response.json()["type"] == "/problems/concurrency-conflict"


async def test_correlation_id_is_echoed_and_stored(api: Any) -> None:
    response = await api.post(
        "/products",
        headers={**MERCHANT, "X-Correlation-ID": "trace-77"},
        json={
            "title": "Belt",
            "category": "accessories",
            "brand": "b",
            "price": 2500,
            "currency": "EUR",
        },
    )
    assert response.headers["x-correlation-id"] == "trace-77"


async def test_health_reports_both_dependencies(api: Any) -> None:
    response = await api.get("/api/system/health")
    assert response.status_code == 200
    body = response.json()
    assert body["dependencies"]["postgres"]["ok"] and body["dependencies"]["nats"]["ok"]


async def test_openapi_document_is_served(api: Any) -> None:
    response = await api.get("/schema/openapi.json")
    assert response.status_code == 200
    paths = response.json()["paths"]
    assert "/orders" in paths and "/products/{product_id}" in paths
