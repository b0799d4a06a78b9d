"""Catalog use cases: list products, change prices, move stock, delist."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from application.base import CommandResult, ModisteApplication, last_position
from domain.catalog.aggregates import Product
from domain.shared.money import Money


@dataclass(frozen=True)
class ListProduct:
    title: str
    description: str
    category: str
    brand: str
    price: Money
    image_sha256: str | None = None


class CatalogApplication(ModisteApplication):
    """The catalog context's command and query façade."""

    def list_product(self, command: ListProduct) -> CommandResult[Product]:
        product = Product.list(
            title=command.title,
            description=command.description,
            category=command.category,
            brand=command.brand,
            price=command.price,
            image_sha256=command.image_sha256,
        )
        return CommandResult(product, last_position(self.save(product)))

    def change_price(
        self, product_id: uuid.UUID, price: Money, *, expected_version: int | None = None
    ) -> CommandResult[Product]:
        return self.execute(
            product_id, Product, lambda p: p.change_price(price), expected_version=expected_version
        )

    def adjust_stock(
        self,
        product_id: uuid.UUID,
        delta: int,
        reason: str,
        *,
        expected_version: int | None = None,
    ) -> CommandResult[Product]:
        return self.execute(
            product_id,
            Product,
            lambda p: p.adjust_stock(delta, reason),
            expected_version=expected_version,
        )

    def delist(
        self, product_id: uuid.UUID, reason: str = "", *, expected_version: int | None = None
    ) -> CommandResult[Product]:
        return self.execute(
            product_id, Product, lambda p: p.delist(reason), expected_version=expected_version
        )

    def attach_image(
        self,
        product_id: uuid.UUID,
        image_sha256: str,
        media_type: str,
        width: int,
        height: int,
        *,
        expected_version: int | None = None,
    ) -> CommandResult[Product]:
        """Show a stored image with the product (the image agent then embeds it)."""
        return self.execute(
            product_id,
            Product,
            lambda p: p.attach_image(image_sha256, media_type, width, height),
            expected_version=expected_version,
        )

    def get_product(self, product_id: uuid.UUID) -> Product:
        return self.load(product_id, Product)
