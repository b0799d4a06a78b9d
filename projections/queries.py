"""Read-model queries (asyncpg) behind the API's list endpoints, with keyset pagination."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

import asyncpg

ProductSort = Literal["newest", "price_asc", "price_desc", "title"]

_PRODUCT_SORTS: dict[str, tuple[str, str]] = {
    # sort name -> (key column, direction)
    "newest": ("listed_at", "DESC"),
    "price_asc": ("price", "ASC"),
    "price_desc": ("price", "DESC"),
    "title": ("title", "ASC"),
}


class InvalidCursorError(ValueError):
    """A pagination cursor that this API did not issue (or for another sort order)."""


def encode_cursor(sort: str, key: Any, ident: Any) -> str:
    raw = json.dumps([sort, key if not hasattr(key, "isoformat") else key.isoformat(), str(ident)])
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor: str, sort: str) -> tuple[Any, str]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        cursor_sort, key, ident = json.loads(base64.urlsafe_b64decode(padded))
    except (ValueError, TypeError) as exc:
        raise InvalidCursorError("cursor is not one this API issued") from exc
    if cursor_sort != sort:
        raise InvalidCursorError("cursor belongs to another sort order")
    return key, ident


@dataclass(frozen=True)
class Page:
    items: list[dict[str, Any]]
    next_cursor: str | None


@dataclass(frozen=True)
class ProductFilter:
    category: str | None = None
    brand: str | None = None
    min_price: int | None = None
    max_price: int | None = None
    currency: str | None = None
    in_stock: bool | None = None
    include_delisted: bool = False


async def list_products(
    pool: asyncpg.Pool, filters: ProductFilter, sort: str, limit: int, cursor: str | None
) -> Page:
    column, direction = _PRODUCT_SORTS[sort]
    where: list[str] = []
    args: list[Any] = []

    def arg(value: Any) -> str:
        args.append(value)
        return f"${len(args)}"

    if not filters.include_delisted:
        where.append("listed")
    if filters.category:
        where.append(f"category = {arg(filters.category.lower())}")
    if filters.brand:
        where.append(f"brand = {arg(filters.brand)}")
    if filters.min_price is not None:
        where.append(f"price >= {arg(filters.min_price)}")
    if filters.max_price is not None:
        where.append(f"price <= {arg(filters.max_price)}")
    if filters.currency:
        where.append(f"currency = {arg(filters.currency)}")
    if filters.in_stock is not None:
        where.append("available > 0" if filters.in_stock else "available <= 0")
    if cursor:
        key, ident = decode_cursor(cursor, sort)
        if column == "listed_at":
            key = datetime.fromisoformat(key)
        comparison = "<" if direction == "DESC" else ">"
        where.append(f"({column}, product_id) {comparison} ({arg(key)}, {arg(ident)}::uuid)")
    sql = (
        "SELECT product_id, title, description, category, brand, price, currency, on_hand, "
        "reserved, available, listed, image_sha256, has_embedding, listed_at, updated_at, "
        "version, position FROM read.catalog_products"
        + (f" WHERE {' AND '.join(where)}" if where else "")
        + f" ORDER BY {column} {direction}, product_id {direction} LIMIT {arg(limit + 1)}"
    )
    rows = [dict(row) for row in await pool.fetch(sql, *args)]
    next_cursor = None
    if len(rows) > limit:
        rows = rows[:limit]
        last = rows[-1]
        next_cursor = encode_cursor(sort, last[column], last["product_id"])
    return Page(rows, next_cursor)


async def list_orders(
    pool: asyncpg.Pool,
    customer_id: str | None,
    status: str | None,
    limit: int,
    cursor: str | None,
) -> Page:
    where: list[str] = []
    args: list[Any] = []

    def arg(value: Any) -> str:
        args.append(value)
        return f"${len(args)}"

    if customer_id is not None:
        where.append(f"customer_id = {arg(customer_id)}")
    if status:
        where.append(f"status = {arg(status)}")
    if cursor:
        key, ident = decode_cursor(cursor, "newest")
        where.append(
            f"(placed_at, order_id) < ({arg(datetime.fromisoformat(key))}, {arg(ident)}::uuid)"
        )
    sql = (
        "SELECT order_id, customer_id, status, currency, total, paid, refunded, lines, "
        "item_count, campaign_code, reason, placed_at, updated_at, version, position "
        "FROM read.orders"
        + (f" WHERE {' AND '.join(where)}" if where else "")
        + f" ORDER BY placed_at DESC, order_id DESC LIMIT {arg(limit + 1)}"
    )
    rows = [dict(row) for row in await pool.fetch(sql, *args)]
    next_cursor = None
    if len(rows) > limit:
        rows = rows[:limit]
        next_cursor = encode_cursor("newest", rows[-1]["placed_at"], rows[-1]["order_id"])
    for row in rows:
        row["lines"] = json.loads(row["lines"])
    return Page(rows, next_cursor)
