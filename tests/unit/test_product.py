from __future__ import annotations

import uuid

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.catalog.aggregates import Product
from domain.shared.errors import (
    InsufficientStockError,
    InvariantViolationError,
    ValidationError,
)
from domain.shared.metadata import EventMetadata, bound_metadata
from domain.shared.money import Money


def a_product(stock: int = 0) -> Product:
    product = Product.list(
        title="Silk slip dress",
        description="",
        category="Dresses",
        brand="Maison",
        price=Money(12900, "EUR"),
    )
    if stock:
        product.adjust_stock(stock, "received")
    return product


def test_listing_records_product_listed_with_price_in_minor_units() -> None:
    product = a_product()
    [listed] = product.collect_events()
    assert type(listed).__name__ == "ProductListed"
    assert listed.price == 12900 and listed.currency == "EUR"
    assert product.category == "dresses"


def test_events_carry_the_bound_metadata() -> None:
    with bound_metadata(EventMetadata("corr-1", "cause-1", "merchant:m1")):
        product = a_product()
    [listed] = product.collect_events()
    assert (listed.correlation_id, listed.causation_id, listed.actor) == (
        "corr-1",
        "cause-1",
        "merchant:m1",
    )
    assert isinstance(listed.event_id, uuid.UUID)


def test_listing_refuses_a_non_positive_price() -> None:
    with pytest.raises(ValidationError) as caught:
        Product.list(title="x", description="", category="c", brand="b", price=Money(0, "EUR"))
    assert caught.value.field == "price"


def test_listing_refuses_an_empty_title() -> None:
    with pytest.raises(ValidationError) as caught:
        Product.list(title="  ", description="", category="c", brand="b", price=Money(1, "EUR"))
    assert caught.value.field == "title"


def test_price_change_keeps_the_currency() -> None:
    product = a_product()
    with pytest.raises(ValidationError):
        product.change_price(Money(100, "USD"))
    product.change_price(Money(9900, "EUR"))
    assert product.price == Money(9900, "EUR")


def test_removing_more_than_available_is_refused() -> None:
    product = a_product(stock=2)
    with pytest.raises(InsufficientStockError):
        product.adjust_stock(-3, "write-off")


def test_reservation_is_idempotent_per_order() -> None:
    product = a_product(stock=5)
    order_id = uuid.uuid4()
    product.reserve(order_id, 2)
    product.reserve(order_id, 2)
    assert product.reserved == 2 and product.available == 3


def test_consumed_release_ships_the_units() -> None:
    product = a_product(stock=5)
    order_id = uuid.uuid4()
    product.reserve(order_id, 2)
    product.release(order_id, consumed=True)
    assert (product.on_hand, product.reserved) == (3, 0)


def test_delisted_product_takes_no_new_stock_but_releases() -> None:
    product = a_product(stock=5)
    order_id = uuid.uuid4()
    product.reserve(order_id, 1)
    product.delist("end of season")
    with pytest.raises(InvariantViolationError):
        product.adjust_stock(1, "late delivery")
    product.release(order_id)
    assert product.reserved == 0


movements = st.lists(
    st.one_of(
        st.tuples(st.just("adjust"), st.integers(min_value=-50, max_value=50)),
        st.tuples(st.just("reserve"), st.integers(min_value=1, max_value=20)),
        st.tuples(st.just("release"), st.integers(min_value=0, max_value=30)),
    ),
    max_size=60,
)


@given(movements)
def test_available_stock_is_never_negative(ops: list[tuple[str, int]]) -> None:
    product = a_product()
    orders: list[uuid.UUID] = []
    for op, n in ops:
        try:
            if op == "adjust" and n != 0:
                product.adjust_stock(n, "movement")
            elif op == "reserve":
                order_id = uuid.uuid4()
                product.reserve(order_id, n)
                orders.append(order_id)
            elif op == "release" and orders:
                product.release(orders.pop(n % len(orders)), consumed=n % 2 == 0)
        except InsufficientStockError:
            pass
        assert product.available >= 0
        assert product.on_hand >= product.reserved >= 0
