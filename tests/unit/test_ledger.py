"""The Ledger: every entry balances, each entry id posts once, cash = payments - refunds."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.finance.aggregates import (
    CASH,
    REFUNDS,
    REVENUE,
    Ledger,
    LedgerLine,
    check_balanced,
    ledger_id,
)
from domain.shared.errors import InvalidMoneyError, InvariantViolationError, ValidationError
from domain.shared.money import Money

NOW = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


def posted_lines(ledger: Ledger) -> list[list[dict[str, int | str]]]:
    return [e.lines for e in ledger.collect_events() if type(e).__name__ == "LedgerEntryPosted"]


def test_one_ledger_stream_per_currency() -> None:
    assert Ledger.open("EUR").id == ledger_id("EUR") != ledger_id("USD")
    with pytest.raises(InvalidMoneyError):
        Ledger.open("EURO")


def test_a_payment_debits_cash_and_credits_revenue() -> None:
    ledger = Ledger.open("EUR")
    ledger.post_payment(payment_id="p1", order_id="o1", amount=Money(4200, "EUR"), booked_at=NOW)
    [lines] = posted_lines(ledger)
    assert lines == [
        {"account": CASH, "debit": 4200, "credit": 0},
        {"account": REVENUE, "debit": 0, "credit": 4200},
    ]
    assert ledger.cash == Money(4200, "EUR")


def test_a_refund_debits_refunds_and_credits_cash() -> None:
    ledger = Ledger.open("EUR")
    ledger.post_payment(payment_id="p1", order_id="o1", amount=Money(4200, "EUR"), booked_at=NOW)
    ledger.post_refund(refund_id="r1", order_id="o1", amount=Money(1200, "EUR"), booked_at=NOW)
    assert ledger.balance(REFUNDS) == 1200
    assert ledger.cash == Money(3000, "EUR")
    assert ledger.net_revenue == Money(3000, "EUR")


def test_an_entry_id_posts_once() -> None:
    ledger = Ledger.open("EUR")
    amount = Money(100, "EUR")
    assert ledger.post_payment(payment_id="p1", order_id="o1", amount=amount, booked_at=NOW)
    assert not ledger.post_payment(payment_id="p1", order_id="o1", amount=amount, booked_at=NOW)
    assert len(posted_lines(ledger)) == 1


def test_an_unbalanced_entry_is_refused() -> None:
    ledger = Ledger.open("EUR")
    with pytest.raises(ValidationError, match="does not balance"):
        ledger.post(
            entry_id="x",
            source="payment",
            order_id=None,
            lines=[LedgerLine(CASH, debit=100), LedgerLine(REVENUE, credit=99)],
            booked_at=NOW,
        )
    assert ledger.pending_events[-1].__class__.__name__ == "LedgerOpened"


@pytest.mark.parametrize(
    "lines",
    [
        [LedgerLine(CASH, debit=100)],
        [LedgerLine(CASH, debit=100, credit=100), LedgerLine(REVENUE)],
        [LedgerLine(CASH, debit=-5), LedgerLine(REVENUE, credit=-5)],
        [LedgerLine("petty", debit=5), LedgerLine(REVENUE, credit=5)],
        [LedgerLine(CASH, debit=1.5), LedgerLine(REVENUE, credit=1.5)],  # type: ignore[arg-type]
    ],
)
def test_malformed_lines_are_refused(lines: list[LedgerLine]) -> None:
    with pytest.raises(ValidationError):
        check_balanced(lines)


def test_amounts_go_to_the_ledger_of_their_currency() -> None:
    ledger = Ledger.open("EUR")
    with pytest.raises(InvariantViolationError):
        ledger.post_payment(payment_id="p", order_id="o", amount=Money(1, "USD"), booked_at=NOW)
    with pytest.raises(ValidationError):
        ledger.post_payment(payment_id="p", order_id="o", amount=Money(0, "EUR"), booked_at=NOW)


movements = st.lists(
    st.tuples(
        st.sampled_from(["payment", "refund"]),
        st.integers(min_value=1, max_value=10**12),
        st.text(alphabet="abc", min_size=1, max_size=3),  # ids repeat: duplicates are no-ops
    ),
    max_size=60,
)


@given(movements)
def test_every_entry_balances_and_the_books_equal_payments_minus_refunds(
    moves: list[tuple[str, int, str]],
) -> None:
    ledger = Ledger.open("EUR")
    paid = refunded = 0
    seen: set[tuple[str, str]] = set()
    for kind, amount, ident in moves:
        money = Money(amount, "EUR")
        if kind == "payment":
            ledger.post_payment(payment_id=ident, order_id="o", amount=money, booked_at=NOW)
        else:
            ledger.post_refund(refund_id=ident, order_id="o", amount=money, booked_at=NOW)
        if (kind, ident) not in seen:
            seen.add((kind, ident))
            if kind == "payment":
                paid += amount
            else:
                refunded += amount
    for lines in posted_lines(ledger):
        assert sum(int(line["debit"]) for line in lines) == sum(
            int(line["credit"]) for line in lines
        )
    assert ledger.trial_balance == 0
    assert ledger.cash == Money(paid - refunded, "EUR")
    assert ledger.net_revenue == Money(paid - refunded, "EUR")
    assert len(ledger.posted) == len(seen)


@given(movements)
def test_a_replayed_ledger_has_the_same_balances(moves: list[tuple[str, int, str]]) -> None:
    ledger = Ledger.open("EUR")
    for kind, amount, ident in moves:
        if kind == "payment":
            ledger.post_payment(
                payment_id=ident, order_id="o", amount=Money(amount, "EUR"), booked_at=NOW
            )
        else:
            ledger.post_refund(
                refund_id=ident, order_id="o", amount=Money(amount, "EUR"), booked_at=NOW
            )
    events = ledger.collect_events()
    replayed = None
    for event in events:
        replayed = event.mutate(replayed)
    assert isinstance(replayed, Ledger)
    assert replayed.balances == ledger.balances
    assert replayed.posted == ledger.posted
