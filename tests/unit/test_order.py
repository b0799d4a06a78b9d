from __future__ import annotations

import contextlib
import uuid

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.orders.aggregates import Order, OrderLine, OrderStatus
from domain.shared.errors import InvariantViolationError, ValidationError
from domain.shared.money import Money


def line(quantity: int = 2, price: int = 1000, currency: str = "EUR") -> OrderLine:
    return OrderLine(str(uuid.uuid4()), "Linen shirt", quantity, price, currency)


def an_order(*lines: OrderLine) -> Order:
    return Order.place(customer_id="c1", lines=list(lines) or [line()])


def pay(order: Order, amount: int, payment_id: str | None = None) -> bool:
    return order.record_payment(
        payment_id=payment_id or uuid.uuid4().hex,
        amount=Money(amount, "EUR"),
        method="card",
        provider_ref="psp",
    )


def test_total_is_the_sum_of_line_subtotals() -> None:
    order = an_order(line(2, 1000), line(1, 550))
    assert order.total == Money(2550, "EUR")


def test_lines_must_share_one_currency() -> None:
    with pytest.raises(ValidationError):
        an_order(line(1, 100, "EUR"), line(1, 100, "USD"))


def test_an_order_needs_lines() -> None:
    with pytest.raises(ValidationError) as caught:
        Order.place(customer_id="c1", lines=[])
    assert caught.value.field == "lines"


def test_full_payment_makes_the_order_paid_in_the_same_command() -> None:
    order = an_order(line(2, 1000))
    order.collect_events()
    pay(order, 2000)
    assert [type(e).__name__ for e in order.collect_events()] == ["PaymentRecorded", "OrderPaid"]
    assert order.status is OrderStatus.PAID


def test_payment_above_the_outstanding_amount_is_refused() -> None:
    order = an_order(line(1, 1000))
    pay(order, 600)
    with pytest.raises(InvariantViolationError):
        pay(order, 500)


def test_a_cancelled_order_takes_no_payment() -> None:
    order = an_order()
    order.cancel("changed my mind")
    with pytest.raises(InvariantViolationError):
        pay(order, 100)


def test_the_same_payment_id_is_recorded_once() -> None:
    order = an_order(line(1, 1000))
    assert pay(order, 400, "p-1") is True
    assert pay(order, 400, "p-1") is False
    assert order.paid == 400


def test_refunds_never_exceed_what_was_paid() -> None:
    order = an_order(line(1, 1000))
    pay(order, 1000)
    order.cancel("late")
    order.issue_refund(refund_id="r1", amount=Money(700, "EUR"), reason="cancelled")
    with pytest.raises(InvariantViolationError):
        order.issue_refund(refund_id="r2", amount=Money(301, "EUR"), reason="cancelled")


def test_a_shipped_order_cannot_be_cancelled() -> None:
    order = an_order(line(1, 1000))
    pay(order, 1000)
    order.ship("dhl", "TRACK1")
    with pytest.raises(InvariantViolationError):
        order.cancel("too late")


@given(st.lists(st.integers(min_value=-100, max_value=3000), max_size=30))
def test_total_paid_never_exceeds_the_order_total(attempts: list[int]) -> None:
    order = an_order(line(3, 1000))
    for amount in attempts:
        with contextlib.suppress(InvariantViolationError, ValidationError):
            pay(order, amount)
        assert 0 <= order.paid <= order.total.amount
    assert order.is_paid == (order.paid == order.total.amount)
