"""The catalog context: a Product, its price and its stock."""

from __future__ import annotations

import uuid
from typing import Any

from domain.shared.aggregate import ModisteAggregate
from domain.shared.errors import (
    InsufficientStockError,
    InvariantViolationError,
    ValidationError,
)
from domain.shared.money import Money, validate_currency

MAX_TITLE_LENGTH = 200
MAX_DESCRIPTION_LENGTH = 5000
MAX_STOCK_MOVEMENT = 1_000_000


def _require_text(value: str, field: str, max_length: int, *, allow_empty: bool = False) -> str:
    cleaned = value.strip()
    if not cleaned and not allow_empty:
        raise ValidationError(f"{field} must not be empty", field)
    if len(cleaned) > max_length:
        raise ValidationError(f"{field} is longer than {max_length} characters", field)
    return cleaned


def _require_price(price: Money) -> Money:
    if price.amount <= 0:
        raise ValidationError("price must be a positive amount in minor units", "price")
    return price


class Product(ModisteAggregate):
    """A product listed for sale. Stock on hand minus reservations is never negative."""

    class ProductListed(ModisteAggregate.Created):
        title: str
        description: str
        category: str
        brand: str
        price: int
        currency: str
        image_sha256: str | None

    class PriceChanged(ModisteAggregate.Event):
        price: int
        currency: str

        def apply(self, aggregate: Any) -> None:
            aggregate.price = Money(self.price, self.currency)

    class StockAdjusted(ModisteAggregate.Event):
        delta: int
        reason: str

        def apply(self, aggregate: Any) -> None:
            aggregate.on_hand += self.delta

    class StockReserved(ModisteAggregate.Event):
        order_id: uuid.UUID
        quantity: int

        def apply(self, aggregate: Any) -> None:
            aggregate.reservations[str(self.order_id)] = self.quantity

    class StockReleased(ModisteAggregate.Event):
        order_id: uuid.UUID
        quantity: int
        consumed: bool

        def apply(self, aggregate: Any) -> None:
            del aggregate.reservations[str(self.order_id)]
            if self.consumed:
                aggregate.on_hand -= self.quantity

    class ProductImageEmbedded(ModisteAggregate.Event):
        model_id: str
        vector_f16: bytes

        def apply(self, aggregate: Any) -> None:
            aggregate.embedding_model_id = self.model_id

    class ProductImageAttached(ModisteAggregate.Event):
        image_sha256: str
        media_type: str
        width: int
        height: int

        def apply(self, aggregate: Any) -> None:
            aggregate.image_sha256 = self.image_sha256

    class ProductDelisted(ModisteAggregate.Event):
        reason: str

        def apply(self, aggregate: Any) -> None:
            aggregate.is_listed = False

    def __init__(
        self,
        title: str,
        description: str,
        category: str,
        brand: str,
        price: int,
        currency: str,
        image_sha256: str | None,
    ) -> None:
        self.title = title
        self.description = description
        self.category = category
        self.brand = brand
        self.price = Money(price, currency)
        self.image_sha256 = image_sha256
        self.on_hand = 0
        self.reservations: dict[str, int] = {}
        self.is_listed = True
        self.embedding_model_id: str | None = None

    # -- commands ------------------------------------------------------------------------

    @classmethod
    def list(
        cls,
        *,
        title: str,
        description: str,
        category: str,
        brand: str,
        price: Money,
        image_sha256: str | None = None,
        product_id: uuid.UUID | None = None,
    ) -> Product:
        """List a new product. Stock starts at zero; adjust it to sell."""
        _require_price(price)
        product: Product = cls._create(
            cls.ProductListed,
            id=product_id or uuid.uuid4(),
            title=_require_text(title, "title", MAX_TITLE_LENGTH),
            description=_require_text(
                description, "description", MAX_DESCRIPTION_LENGTH, allow_empty=True
            ),
            category=_require_text(category, "category", 100).lower(),
            brand=_require_text(brand, "brand", 100),
            price=price.amount,
            currency=price.currency,
            image_sha256=image_sha256,
        )
        return product

    def change_price(self, price: Money) -> None:
        """Set a new price in the product's currency."""
        self._require_listed()
        _require_price(price)
        if price.currency != self.price.currency:
            raise ValidationError(
                f"price currency {price.currency} differs from the product's {self.price.currency}",
                "currency",
            )
        if price == self.price:
            return
        self.trigger_event(self.PriceChanged, price=price.amount, currency=price.currency)

    def adjust_stock(self, delta: int, reason: str) -> None:
        """Receive (positive) or write off (negative) units on hand."""
        self._require_listed()
        if delta == 0:
            raise ValidationError("a stock adjustment must change the stock", "delta")
        if abs(delta) > MAX_STOCK_MOVEMENT:
            raise ValidationError(
                f"a stock adjustment moves at most {MAX_STOCK_MOVEMENT} units", "delta"
            )
        if self.available + delta < 0:
            raise InsufficientStockError(
                f"cannot remove {-delta} units: only {self.available} available"
            )
        self.trigger_event(self.StockAdjusted, delta=delta, reason=reason.strip()[:200])

    def reserve(self, order_id: uuid.UUID, quantity: int) -> None:
        """Hold ``quantity`` units for an order. Reserving twice for one order is a no-op."""
        if str(order_id) in self.reservations:
            return
        self._require_listed()
        if quantity <= 0:
            raise ValidationError("quantity must be positive", "quantity")
        if quantity > self.available:
            raise InsufficientStockError(
                f"cannot reserve {quantity} units of {self.title!r}: "
                f"only {self.available} available"
            )
        self.trigger_event(self.StockReserved, order_id=order_id, quantity=quantity)

    def release(self, order_id: uuid.UUID, *, consumed: bool = False) -> None:
        """Give back (or, when ``consumed``, ship) an order's reservation; no-op if none."""
        quantity = self.reservations.get(str(order_id))
        if quantity is None:
            return
        self.trigger_event(
            self.StockReleased, order_id=order_id, quantity=quantity, consumed=consumed
        )

    def attach_image(self, image_sha256: str, media_type: str, width: int, height: int) -> None:
        """Show a (validated, stored) image with the product; the same image again is a no-op."""
        self._require_listed()
        if len(image_sha256) != 64 or any(c not in "0123456789abcdef" for c in image_sha256):
            raise ValidationError("image_sha256 must be a lower-case sha256 hex digest", "image")
        if image_sha256 == self.image_sha256:
            return
        self.trigger_event(
            self.ProductImageAttached,
            image_sha256=image_sha256,
            media_type=media_type,
            width=width,
            height=height,
        )

    def record_image_embedding(self, model_id: str, vector_f16: bytes) -> None:
        """Store the CLIP embedding of the product image (float16 bytes)."""
        self.trigger_event(self.ProductImageEmbedded, model_id=model_id, vector_f16=vector_f16)

    def delist(self, reason: str = "") -> None:
        """Stop selling the product. Existing reservations can still be released."""
        self._require_listed()
        self.trigger_event(self.ProductDelisted, reason=reason.strip()[:200])

    # -- queries -------------------------------------------------------------------------

    @property
    def reserved(self) -> int:
        return sum(self.reservations.values())

    @property
    def available(self) -> int:
        return self.on_hand - self.reserved

    def _require_listed(self) -> None:
        if not self.is_listed:
            raise InvariantViolationError(f"product {self.id} is delisted")


__all__ = ["Product", "validate_currency"]
