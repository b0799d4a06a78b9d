"""Aggregates and read-model rows to response Structs."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from domain.catalog.aggregates import Product
from domain.orders.aggregates import Order
from interfaces.http.schemas import (
    MoneyBody,
    OrderLineOut,
    OrderOut,
    OrderSummary,
    ProductOut,
    ProductSummary,
    StockLevels,
)


def blob_url(sha256: str | None) -> str | None:
    return f"/blobs/{sha256}" if sha256 else None


def product_out(product: Product, position: int | None = None) -> ProductOut:
    return ProductOut(
        id=product.id,
        version=product.version,
        title=product.title,
        description=product.description,
        category=product.category,
        brand=product.brand,
        price=MoneyBody(product.price.amount, product.price.currency),
        stock=StockLevels(product.on_hand, product.reserved, product.available),
        listed=product.is_listed,
        image_url=blob_url(product.image_sha256),
        position=position,
    )


def order_out(order: Order, position: int | None = None) -> OrderOut:
    currency = order.total.currency
    return OrderOut(
        id=order.id,
        version=order.version,
        customer_id=order.customer_id,
        status=order.status.value,
        lines=[
            OrderLineOut(
                product_id=line.product_id,
                title=line.title,
                quantity=line.quantity,
                unit_price=MoneyBody(line.unit_price, line.currency),
                subtotal=MoneyBody(line.subtotal.amount, line.currency),
            )
            for line in order.lines
        ],
        total=MoneyBody(order.total.amount, currency),
        paid=MoneyBody(order.paid, currency),
        refunded=MoneyBody(order.refunded, currency),
        outstanding=MoneyBody(order.outstanding, currency),
        campaign_code=order.campaign_code,
        rejection_reason=order.rejection_reason,
        cancellation_reason=order.cancellation_reason,
        position=position,
    )


def version_headers(version: int, position: int | None) -> dict[str, str]:
    headers = {"ETag": f'"{version}"'}
    if position is not None:
        headers["X-Modiste-Position"] = str(position)
    return headers


def product_summary(row: Mapping[str, Any]) -> ProductSummary:
    """A catalog read-model row as a list item."""
    return ProductSummary(
        id=row["product_id"],
        title=row["title"],
        category=row["category"],
        brand=row["brand"],
        price=MoneyBody(row["price"], row["currency"].strip()),
        stock=StockLevels(row["on_hand"], row["reserved"], row["available"]),
        listed=row["listed"],
        image_url=blob_url(row["image_sha256"]),
        version=row["version"],
    )


def order_summary(row: Mapping[str, Any]) -> OrderSummary:
    """An orders read-model row as a history item."""
    currency = row["currency"].strip()
    return OrderSummary(
        id=row["order_id"],
        customer_id=row["customer_id"],
        status=row["status"],
        total=MoneyBody(row["total"], currency),
        paid=MoneyBody(row["paid"], currency),
        refunded=MoneyBody(row["refunded"], currency),
        item_count=row["item_count"],
        campaign_code=row["campaign_code"],
        placed_at=row["placed_at"].isoformat(),
        version=row["version"],
    )
