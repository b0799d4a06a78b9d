"""Order detail and customer order history."""

from __future__ import annotations

import json
from typing import Any

import asyncpg

from infrastructure.messaging.codec import EventEnvelope
from projections.base import Projector, Tables


class OrdersProjector(Projector):
    name = "orders"
    contexts = ("orders",)
    pipelined_rebuild = True
    tables = {
        "orders": [
            """CREATE TABLE {table} (
                order_id       uuid PRIMARY KEY,
                customer_id    text NOT NULL,
                status         text NOT NULL,
                currency       char(3) NOT NULL,
                total          bigint NOT NULL,
                paid           bigint NOT NULL DEFAULT 0,
                refunded       bigint NOT NULL DEFAULT 0,
                lines          jsonb NOT NULL,
                item_count     integer NOT NULL,
                campaign_code  text,
                reason         text,
                placed_at      timestamptz NOT NULL,
                updated_at     timestamptz NOT NULL,
                version        integer NOT NULL,
                position       bigint NOT NULL
            )""",
            "CREATE INDEX ON {table} (customer_id, placed_at DESC, order_id)",
            "CREATE INDEX ON {table} (placed_at DESC, order_id)",
            "CREATE INDEX ON {table} (status)",
        ],
    }

    STATUS_BY_EVENT = {
        "OrderConfirmed": "confirmed",
        "OrderRejected": "rejected",
        "OrderShipped": "shipped",
        "OrderCancelled": "cancelled",
    }

    async def apply(self, conn: asyncpg.Connection, event: EventEnvelope, t: Tables) -> None:
        d = event.data
        table = t["orders"]
        if event.type == "OrderPlaced":
            await conn.execute(
                f"INSERT INTO {table} (order_id, customer_id, status, currency, total, lines, "
                "item_count, campaign_code, placed_at, updated_at, version, position) "
                "VALUES ($1, $2, 'placed', $3, $4, $5::jsonb, $6, $7, $8, $8, $9, $10)",
                event.aggregate_id,
                d["customer_id"],
                d["currency"],
                d["total"],
                json.dumps(d["lines"]),
                sum(line["quantity"] for line in d["lines"]),
                d.get("campaign_code"),
                event.occurred_at,
                event.aggregate_version,
                event.position,
            )
            return
        assignments: list[str] = []
        args: list[Any] = []
        if event.type in self.STATUS_BY_EVENT:
            args.append(self.STATUS_BY_EVENT[event.type])
            assignments.append(f"status = ${len(args) + 4}")
            if "reason" in d:
                args.append(d["reason"])
                assignments.append(f"reason = ${len(args) + 4}")
        elif event.type == "PaymentRecorded":
            args.append(d["amount"])
            assignments.append(f"paid = paid + ${len(args) + 4}")
        elif event.type == "OrderPaid":
            assignments.append(
                "status = CASE WHEN status IN ('placed', 'confirmed') THEN 'paid' ELSE status END"
            )
        elif event.type == "RefundIssued":
            args.append(d["amount"])
            assignments.append(f"refunded = refunded + ${len(args) + 4}")
        assignments += ["updated_at = $2", "version = $3", "position = $4"]
        await conn.execute(
            f"UPDATE {table} SET {', '.join(assignments)} WHERE order_id = $1",
            event.aggregate_id,
            event.occurred_at,
            event.aggregate_version,
            event.position,
            *args,
        )
