from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.shared.errors import CurrencyMismatchError, InvalidMoneyError
from domain.shared.money import Money

amounts = st.integers(min_value=-(10**12), max_value=10**12)
currencies = st.sampled_from(["EUR", "USD", "JPY", "KWD"])


@given(amounts, amounts, currencies)
def test_addition_and_subtraction_are_inverse(a: int, b: int, currency: str) -> None:
    x, y = Money(a, currency), Money(b, currency)
    assert (x + y) - y == x


@given(amounts, amounts, amounts, currencies)
def test_addition_is_associative(a: int, b: int, c: int, currency: str) -> None:
    x, y, z = Money(a, currency), Money(b, currency), Money(c, currency)
    assert (x + y) + z == x + (y + z)


@given(amounts, st.integers(min_value=0, max_value=1000), currencies)
def test_multiplying_by_quantity_is_repeated_addition(a: int, q: int, currency: str) -> None:
    total = Money.zero(currency)
    for _ in range(q):
        total = total + Money(a, currency)
    assert Money(a, currency) * q == total


def test_money_refuses_floats() -> None:
    with pytest.raises(InvalidMoneyError):
        Money(12.5, "EUR")  # type: ignore[arg-type]


def test_money_refuses_unknown_currency() -> None:
    with pytest.raises(InvalidMoneyError, match="ISO 4217"):
        Money(100, "EURO")


def test_different_currencies_do_not_mix() -> None:
    with pytest.raises(CurrencyMismatchError):
        Money(100, "EUR") + Money(100, "USD")


def test_money_formats_by_currency_exponent() -> None:
    assert str(Money(12900, "EUR")) == "129.00 EUR"
    assert str(Money(500, "JPY")) == "500 JPY"
    assert str(Money(-1234, "KWD")) == "-1.234 KWD"
