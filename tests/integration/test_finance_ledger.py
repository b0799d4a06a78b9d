"""Payments and refunds flow through JetStream into the ledger; the revenue report matches
a sum over the raw events in the event store."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from typing import Any

import psycopg

from application.agents.finance import finance_agent
from domain.finance.aggregates import CASH, REFUNDS, REVENUE
from domain.shared.money import Money
from infrastructure.bootstrap import Container
from infrastructure.eventstore.log import EventLog
from interfaces.workers import AgentHandler
from projections.finance import utc_day
from tests.conftest import bearer

MERCHANT = bearer("merchant", "m-1")
OPERATOR = bearer("operator", "op-1")
CUSTOMERS = [bearer("customer", f"customer-{i}") for i in range(4)]


async def list_product(api: Any, price: int, currency: str, stock: int = 10) -> str:
    created = await api.post(
        "/products",
        headers=MERCHANT,
        json={
            "title": f"Coat {uuid.uuid4().hex[:6]}",
            "category": "coats",
            "brand": "Maison",
            "price": price,
            "currency": currency,
        },
    )
    assert created.status_code == 201, created.text
    product_id: str = created.json()["id"]
    stocked = await api.post(
        f"/products/{product_id}/stock-adjustments", headers=MERCHANT, json={"delta": stock}
    )
    assert stocked.status_code == 200, stocked.text
    return product_id


async def place(
    api: Any, customer: dict[str, str], product_id: str, currency: str, quantity: int = 1
) -> dict[str, Any]:
    placed = await api.post(
        "/orders",
        headers=customer,
        json={"currency": currency, "lines": [{"product_id": product_id, "quantity": quantity}]},
    )
    assert placed.status_code == 201, placed.text
    order: dict[str, Any] = placed.json()
    return order


async def pay(api: Any, customer: dict[str, str], order: dict[str, Any], amount: int) -> None:
    paid = await api.post(
        f"/orders/{order['id']}/payments",
        headers=customer,
        json={
            "amount": amount,
            "currency": order["total"]["currency"],
            "method": "card",
            "provider_ref": f"psp-{uuid.uuid4().hex[:8]}",
        },
    )
    assert paid.status_code == 201, paid.text


async def eventually(probe: Any, timeout: float = 30.0) -> Any:
    """Poll the async ``probe`` until it returns something truthy."""
    deadline = time.monotonic() + timeout
    while True:
        result = await probe()
        if result:
            return result
        assert time.monotonic() < deadline, "timed out waiting"
        await asyncio.sleep(0.1)


def raw_money_events(database_url: str, container: Container) -> list[dict[str, Any]]:
    """PaymentRecorded and RefundIssued straight from modiste_events, decoded."""
    with psycopg.connect(database_url) as conn:
        rows = conn.execute(
            "SELECT topic, state FROM modiste_events WHERE topic LIKE %s OR topic LIKE %s "
            "ORDER BY notification_id",
            ("%Order.PaymentRecorded", "%Order.RefundIssued"),
        ).fetchall()
    transcoder = container.orders.mapper.transcoder
    events = []
    for topic, state in rows:
        data = transcoder.decode(bytes(state))
        data["kind"] = "payment" if topic.endswith("PaymentRecorded") else "refund"
        events.append(data)
    return events


async def test_revenue_report_matches_the_raw_events(
    api: Any, full_pipeline: Any, container: Container, database_url: str
) -> None:
    coat = await list_product(api, 30000, "EUR")
    scarf = await list_product(api, 4500, "EUR")
    boots = await list_product(api, 21000, "USD")
    orders = [
        (CUSTOMERS[0], await place(api, CUSTOMERS[0], coat, "EUR")),
        (CUSTOMERS[1], await place(api, CUSTOMERS[1], scarf, "EUR", 2)),
        (CUSTOMERS[2], await place(api, CUSTOMERS[2], coat, "EUR")),
        (CUSTOMERS[3], await place(api, CUSTOMERS[3], boots, "USD")),
    ]
    for customer, order in orders:

        async def confirmed(
            customer: dict[str, str] = customer, order: dict[str, Any] = order
        ) -> bool:
            read = await api.get(f"/orders/{order['id']}", headers=customer)
            return bool(read.json()["status"] == "confirmed")

        await eventually(confirmed)
    # Two payments cover the first order; the second is paid in full; the third only in
    # part; the USD order in full. Then the first is cancelled: the saga refunds it.
    await pay(api, CUSTOMERS[0], orders[0][1], 10000)
    await pay(api, CUSTOMERS[0], orders[0][1], 20000)
    await pay(api, CUSTOMERS[1], orders[1][1], 9000)
    await pay(api, CUSTOMERS[2], orders[2][1], 5000)
    await pay(api, CUSTOMERS[3], orders[3][1], 21000)
    cancelled = await api.post(
        f"/orders/{orders[0][1]['id']}/cancel", headers=CUSTOMERS[0], json={"reason": "wrong size"}
    )
    assert cancelled.status_code == 200, cancelled.text

    today = datetime.now(UTC).date()
    around_today = {
        "from": (today - timedelta(days=1)).isoformat(),
        "to": (today + timedelta(days=1)).isoformat(),
        "currency": "EUR",
    }

    async def refund_booked() -> dict[str, Any] | None:
        report = await api.get("/finance/revenue", headers=OPERATOR, params=around_today)
        assert report.status_code == 200, report.text
        body: dict[str, Any] = report.json()
        done = body["totals"]["refund_count"] == 1 and body["totals"]["payments"] == 4
        return body if done else None

    await eventually(refund_booked)

    events = raw_money_events(database_url, container)
    expected: dict[tuple[str, date], dict[str, int]] = defaultdict(
        lambda: {"gross": 0, "refunds": 0, "payments": 0, "refund_count": 0}
    )
    for event in events:
        day = expected[(event["currency"], utc_day(event["timestamp"]))]
        if event["kind"] == "payment":
            day["gross"] += event["amount"]
            day["payments"] += 1
        else:
            day["refunds"] += event["amount"]
            day["refund_count"] += 1
    days = sorted({d for _, d in expected})
    for currency in ("EUR", "USD"):

        async def report_for(currency: str = currency) -> dict[str, Any] | None:
            report = await api.get(
                "/finance/revenue",
                headers=OPERATOR,
                params={
                    "from": days[0].isoformat(),
                    "to": days[-1].isoformat(),
                    "currency": currency,
                },
            )
            body: dict[str, Any] = report.json()
            want = sum(v["payments"] for (c, _), v in expected.items() if c == currency)
            return body if body["totals"]["payments"] == want else None

        body = await eventually(report_for)
        reported = {
            date.fromisoformat(d["day"]): {
                "gross": d["gross"]["amount"],
                "refunds": d["refunds"]["amount"],
                "payments": d["payments"],
                "refund_count": d["refund_count"],
            }
            for d in body["days"]
        }
        assert reported == {d: v for (c, d), v in expected.items() if c == currency}
        for d in body["days"]:
            assert d["net"]["amount"] == d["gross"]["amount"] - d["refunds"]["amount"]

    # EUR: 300 + 90 + 50 paid, 300 refunded; USD: 210 paid.
    eur = [e for e in events if e["currency"] == "EUR"]
    paid = sum(e["amount"] for e in eur if e["kind"] == "payment")
    refunded = sum(e["amount"] for e in eur if e["kind"] == "refund")
    assert (paid, refunded) == (44000, 30000)

    # The ledger itself: balanced, and its cash is payments minus refunds.
    ledger = container.finance.get_ledger("EUR")
    assert ledger.trial_balance == 0
    assert ledger.cash == Money(paid - refunded, "EUR")
    assert ledger.balance(REVENUE) == -paid and ledger.balance(REFUNDS) == refunded
    assert ledger.balance(CASH) == paid - refunded

    # The per-order balance of the cancelled order is zero, with both entries' lines.
    balance = await api.get(f"/finance/orders/{orders[0][1]['id']}/balance", headers=OPERATOR)
    assert balance.status_code == 200, balance.text
    body = balance.json()
    assert (body["paid"]["amount"], body["refunded"]["amount"], body["balance"]["amount"]) == (
        30000,
        30000,
        0,
    )
    assert (body["payments"], body["refund_count"]) == (2, 1)
    assert len(body["lines"]) == 6
    partial = await api.get(f"/finance/orders/{orders[2][1]['id']}/balance", headers=OPERATOR)
    assert partial.json()["balance"] == {"amount": 5000, "currency": "EUR"}


def test_a_redelivered_payment_is_posted_once(
    container: Container, database_url: str, full_pipeline: Any
) -> None:
    from application.catalog import ListProduct
    from application.orders import PlaceOrder, RecordPayment, RequestedLine

    product = container.catalog.list_product(
        ListProduct(
            title="Belt",
            description="",
            category="belts",
            brand="b",
            price=Money(900, "EUR"),
        )
    ).aggregate
    container.catalog.adjust_stock(product.id, 1, "delivery")
    order = container.orders.place_order(
        PlaceOrder(customer_id="alice", currency="EUR", lines=[RequestedLine(product.id, 1)])
    ).aggregate
    container.orders.record_payment(
        RecordPayment(
            order_id=order.id, amount=Money(900, "EUR"), method="card", provider_ref="psp"
        )
    )
    deadline = time.monotonic() + 20
    while True:
        try:
            if container.finance.get_ledger("EUR").cash.amount == 900:
                break
        except LookupError:
            pass
        assert time.monotonic() < deadline, "the payment never reached the ledger"
        time.sleep(0.05)
    [payment] = [
        e
        for e in EventLog(container.orders).iterate(0)
        if e.type == "PaymentRecorded" and e.aggregate_id == str(order.id)
    ]
    handler = AgentHandler(finance_agent(container.finance))
    asyncio.run(handler.handle(payment))
    asyncio.run(handler.handle(payment))
    ledger = container.finance.get_ledger("EUR")
    assert ledger.cash.amount == 900 and len(ledger.posted) == 1
    with psycopg.connect(database_url) as conn:
        [(count,)] = conn.execute(
            "SELECT count(*) FROM modiste_tracking WHERE application_name = %s "
            "AND notification_id = %s",
            ("agent-finance", payment.position),
        ).fetchall()
    assert count == 1
