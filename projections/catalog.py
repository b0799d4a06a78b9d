"""The catalog read model: one row per product with price, stock and listing state."""

from __future__ import annotations

from typing import Any

import asyncpg

from infrastructure.messaging.codec import EventEnvelope
from projections.base import Projector, Tables


class CatalogProjector(Projector):
    name = "catalog"
    contexts = ("catalog",)
    pipelined_rebuild = True
    tables = {
        "catalog_products": [
            """CREATE TABLE {table} (
                product_id     uuid PRIMARY KEY,
                title          text NOT NULL,
                description    text NOT NULL,
                category       text NOT NULL,
                brand          text NOT NULL,
                price          bigint NOT NULL,
                currency       char(3) NOT NULL,
                on_hand        integer NOT NULL DEFAULT 0,
                reserved       integer NOT NULL DEFAULT 0,
                available      integer GENERATED ALWAYS AS (on_hand - reserved) STORED,
                listed         boolean NOT NULL DEFAULT true,
                image_sha256   text,
                has_embedding  boolean NOT NULL DEFAULT false,
                listed_at      timestamptz NOT NULL,
                updated_at     timestamptz NOT NULL,
                version        integer NOT NULL,
                position       bigint NOT NULL
            )""",
            "CREATE INDEX ON {table} (category, price, product_id)",
            "CREATE INDEX ON {table} (brand)",
            "CREATE INDEX ON {table} (price, product_id)",
            "CREATE INDEX ON {table} (listed_at DESC, product_id)",
        ],
        "stock_movements": [
            """CREATE TABLE {table} (
                position    bigint PRIMARY KEY,
                product_id  uuid NOT NULL,
                kind        text NOT NULL,
                quantity    integer NOT NULL,
                order_id    uuid,
                reason      text NOT NULL DEFAULT '',
                occurred_at timestamptz NOT NULL
            )""",
            "CREATE INDEX ON {table} (product_id, position)",
        ],
    }

    async def apply(self, conn: asyncpg.Connection, event: EventEnvelope, t: Tables) -> None:
        handler = getattr(self, f"_on_{event.type}", None)
        if handler is not None:
            await handler(conn, event, event.data, t)

    async def _touch(
        self, conn: asyncpg.Connection, e: EventEnvelope, t: Tables, assignments: str, *args: Any
    ) -> None:
        await conn.execute(
            f"UPDATE {t['catalog_products']} SET {assignments}, updated_at = $2, "
            f"version = $3, position = $4 WHERE product_id = $1",
            e.aggregate_id,
            e.occurred_at,
            e.aggregate_version,
            e.position,
            *args,
        )

    async def _movement(
        self,
        conn: asyncpg.Connection,
        e: EventEnvelope,
        t: Tables,
        kind: str,
        quantity: int,
        order_id: str | None,
        reason: str,
    ) -> None:
        await conn.execute(
            f"INSERT INTO {t['stock_movements']} (position, product_id, kind, quantity, "
            "order_id, reason, occurred_at) VALUES ($1, $2, $3, $4, $5, $6, $7) "
            "ON CONFLICT (position) DO NOTHING",
            e.position,
            e.aggregate_id,
            kind,
            quantity,
            order_id,
            reason,
            e.occurred_at,
        )

    async def _on_ProductListed(
        self, conn: asyncpg.Connection, e: EventEnvelope, d: dict[str, Any], t: Tables
    ) -> None:
        await conn.execute(
            f"INSERT INTO {t['catalog_products']} (product_id, title, description, category, "
            "brand, price, currency, image_sha256, listed_at, updated_at, version, position) "
            "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9, $10, $11)",
            e.aggregate_id,
            d["title"],
            d["description"],
            d["category"],
            d["brand"],
            d["price"],
            d["currency"],
            d.get("image_sha256"),
            e.occurred_at,
            e.aggregate_version,
            e.position,
        )

    async def _on_PriceChanged(
        self, conn: asyncpg.Connection, e: EventEnvelope, d: dict[str, Any], t: Tables
    ) -> None:
        await self._touch(conn, e, t, "price = $5", d["price"])

    async def _on_StockAdjusted(
        self, conn: asyncpg.Connection, e: EventEnvelope, d: dict[str, Any], t: Tables
    ) -> None:
        await self._touch(conn, e, t, "on_hand = on_hand + $5", d["delta"])
        await self._movement(conn, e, t, "adjusted", d["delta"], None, d.get("reason", ""))

    async def _on_StockReserved(
        self, conn: asyncpg.Connection, e: EventEnvelope, d: dict[str, Any], t: Tables
    ) -> None:
        await self._touch(conn, e, t, "reserved = reserved + $5", d["quantity"])
        await self._movement(conn, e, t, "reserved", d["quantity"], d["order_id"], "")

    async def _on_StockReleased(
        self, conn: asyncpg.Connection, e: EventEnvelope, d: dict[str, Any], t: Tables
    ) -> None:
        consumed = bool(d.get("consumed"))
        await self._touch(
            conn,
            e,
            t,
            "reserved = reserved - $5, on_hand = on_hand - CASE WHEN $6 THEN $5 ELSE 0 END",
            d["quantity"],
            consumed,
        )
        await self._movement(
            conn, e, t, "shipped" if consumed else "released", d["quantity"], d["order_id"], ""
        )

    async def _on_ProductImageAttached(
        self, conn: asyncpg.Connection, e: EventEnvelope, d: dict[str, Any], t: Tables
    ) -> None:
        await self._touch(
            conn, e, t, "image_sha256 = $5, has_embedding = $6", d["image_sha256"], False
        )

    async def _on_ProductImageEmbedded(
        self, conn: asyncpg.Connection, e: EventEnvelope, d: dict[str, Any], t: Tables
    ) -> None:
        await self._touch(conn, e, t, "has_embedding = $5", True)

    async def _on_ProductDelisted(
        self, conn: asyncpg.Connection, e: EventEnvelope, d: dict[str, Any], t: Tables
    ) -> None:
        await self._touch(conn, e, t, "listed = $5", False)
