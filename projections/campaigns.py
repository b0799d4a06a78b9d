"""Campaigns and their analytics: attributed orders, conversion and revenue per campaign.

An order is attributed to the campaign whose code it was placed with (the orders context
only accepts codes of launched campaigns). It converts once it is fully paid; a later
cancellation does not undo the conversion, but its refund reduces the campaign's revenue
(revenue = paid - refunded, per currency).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from infrastructure.messaging.codec import EventEnvelope
from projections.base import Projector, Tables
from projections.queries import Page, decode_cursor, encode_cursor
from projections.schema import READ_SCHEMA


class CampaignsProjector(Projector):
    name = "campaigns"
    contexts = ("marketing", "orders")
    tables = {
        "campaigns": [
            """CREATE TABLE {table} (
                campaign_id       uuid PRIMARY KEY,
                code              text NOT NULL,
                name              text NOT NULL,
                status            text NOT NULL,
                discount_percent  integer,
                note              text NOT NULL,
                product_id        uuid,
                drafted_at        timestamptz NOT NULL,
                launched_at       timestamptz,
                ended_at          timestamptz,
                updated_at        timestamptz NOT NULL,
                version           integer NOT NULL,
                position          bigint NOT NULL
            )""",
            "CREATE UNIQUE INDEX ON {table} (code)",
            "CREATE INDEX ON {table} (drafted_at DESC, campaign_id)",
        ],
        "campaign_orders": [
            """CREATE TABLE {table} (
                order_id     uuid PRIMARY KEY,
                code         text NOT NULL,
                currency     char(3) NOT NULL,
                total        bigint NOT NULL,
                paid         bigint NOT NULL DEFAULT 0,
                refunded     bigint NOT NULL DEFAULT 0,
                converted    boolean NOT NULL DEFAULT false,
                status       text NOT NULL,
                placed_at    timestamptz NOT NULL,
                position     bigint NOT NULL
            )""",
            "CREATE INDEX ON {table} (code)",
        ],
    }

    ORDER_STATUS = {
        "OrderConfirmed": "confirmed",
        "OrderRejected": "rejected",
        "OrderShipped": "shipped",
        "OrderCancelled": "cancelled",
    }

    async def apply(self, conn: asyncpg.Connection, event: EventEnvelope, t: Tables) -> None:
        if event.context == "marketing":
            await self._campaign(conn, event, t["campaigns"])
        else:
            await self._order(conn, event, t["campaign_orders"])

    async def _campaign(self, conn: asyncpg.Connection, e: EventEnvelope, table: str) -> None:
        d = e.data
        if e.type == "CampaignDrafted":
            await conn.execute(
                f"INSERT INTO {table} (campaign_id, code, name, status, discount_percent, note, "
                "product_id, drafted_at, updated_at, version, position) "
                "VALUES ($1, $2, $3, 'drafted', $4, $5, $6, $7, $7, $8, $9)",
                e.aggregate_id,
                d["code"],
                d["name"],
                d.get("discount_percent"),
                d.get("note", ""),
                d.get("product_id"),
                e.occurred_at,
                e.aggregate_version,
                e.position,
            )
            return
        column = {"CampaignLaunched": "launched_at", "CampaignEnded": "ended_at"}.get(e.type)
        status = {"CampaignLaunched": "launched", "CampaignEnded": "ended"}.get(e.type)
        if column is None:
            await conn.execute(
                f"UPDATE {table} SET version = $2, position = $3 WHERE campaign_id = $1",
                e.aggregate_id,
                e.aggregate_version,
                e.position,
            )
            return
        await conn.execute(
            f"UPDATE {table} SET status = $2, {column} = $3, updated_at = $3, version = $4, "
            "position = $5 WHERE campaign_id = $1",
            e.aggregate_id,
            status,
            e.occurred_at,
            e.aggregate_version,
            e.position,
        )

    async def _order(self, conn: asyncpg.Connection, e: EventEnvelope, table: str) -> None:
        d = e.data
        if e.type == "OrderPlaced":
            if d.get("campaign_code"):
                await conn.execute(
                    f"INSERT INTO {table} (order_id, code, currency, total, status, placed_at, "
                    "position) VALUES ($1, $2, $3, $4, 'placed', $5, $6)",
                    e.aggregate_id,
                    d["campaign_code"],
                    d["currency"],
                    d["total"],
                    e.occurred_at,
                    e.position,
                )
            return
        # Later events of unattributed orders match no row: the UPDATE is a no-op.
        value: object
        if e.type in self.ORDER_STATUS:
            assignment, value = "status = $3", self.ORDER_STATUS[e.type]
        elif e.type == "PaymentRecorded":
            assignment, value = "paid = paid + $3", d["amount"]
        elif e.type == "RefundIssued":
            assignment, value = "refunded = refunded + $3", d["amount"]
        elif e.type == "OrderPaid":
            assignment, value = "converted = $3", True
        else:
            return
        await conn.execute(
            f"UPDATE {table} SET {assignment}, position = $2 WHERE order_id = $1",
            e.aggregate_id,
            e.position,
            value,
        )


# -- queries -----------------------------------------------------------------------------

CAMPAIGN_COLUMNS = (
    "campaign_id, code, name, status, discount_percent, note, product_id, drafted_at, "
    "launched_at, ended_at, version"
)


async def list_campaigns(
    pool: asyncpg.Pool, status: str | None, limit: int, cursor: str | None
) -> Page:
    """Campaigns, newest draft first, with a keyset cursor."""
    where: list[str] = []
    args: list[Any] = []

    def arg(value: Any) -> str:
        args.append(value)
        return f"${len(args)}"

    if status:
        where.append(f"status = {arg(status)}")
    if cursor:
        key, ident = decode_cursor(cursor, "campaigns")
        where.append(
            f"(drafted_at, campaign_id) < ({arg(datetime.fromisoformat(key))}, {arg(ident)}::uuid)"
        )
    sql = (
        f"SELECT {CAMPAIGN_COLUMNS} FROM {READ_SCHEMA}.campaigns"
        + (f" WHERE {' AND '.join(where)}" if where else "")
        + f" ORDER BY drafted_at DESC, campaign_id DESC LIMIT {arg(limit + 1)}"
    )
    try:
        rows = [dict(row) for row in await pool.fetch(sql, *args)]
    except asyncpg.UndefinedTableError:  # no projection worker has run yet
        return Page([], None)
    next_cursor = None
    if len(rows) > limit:
        rows = rows[:limit]
        next_cursor = encode_cursor("campaigns", rows[-1]["drafted_at"], rows[-1]["campaign_id"])
    return Page(rows, next_cursor)


@dataclass(frozen=True)
class CampaignAnalytics:
    campaign: dict[str, Any]
    orders: int
    paid_orders: int
    revenue: dict[str, int]
    """Currency -> paid minus refunded, in minor units."""

    @property
    def conversion(self) -> float:
        return round(self.paid_orders / self.orders, 4) if self.orders else 0.0


async def campaign_analytics(pool: asyncpg.Pool, code: str) -> CampaignAnalytics | None:
    """Orders, paid orders, conversion and revenue of the campaign with ``code``."""
    try:
        campaign = await pool.fetchrow(
            f"SELECT {CAMPAIGN_COLUMNS} FROM {READ_SCHEMA}.campaigns WHERE code = $1", code
        )
    except asyncpg.UndefinedTableError:  # no projection worker has run yet
        return None
    if campaign is None:
        return None
    rows = await pool.fetch(
        "SELECT currency, count(*) AS orders, count(*) FILTER (WHERE converted) AS paid_orders, "
        f"sum(paid - refunded) AS revenue FROM {READ_SCHEMA}.campaign_orders WHERE code = $1 "
        "GROUP BY currency ORDER BY currency",
        code,
    )
    return CampaignAnalytics(
        campaign=dict(campaign),
        orders=sum(int(row["orders"]) for row in rows),
        paid_orders=sum(int(row["paid_orders"]) for row in rows),
        revenue={row["currency"].strip(): int(row["revenue"]) for row in rows},
    )
