"""Finance read models: ledger lines, revenue by day and currency, balance per order.

Revenue is booked on the UTC day of the payment or refund itself (the entry's
``booked_at``), not on the day the FinanceAgent happened to post it, so the report over a
date range matches a sum over the orders' own events.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import asyncpg

from infrastructure.messaging.codec import EventEnvelope
from projections.base import Projector, Tables
from projections.schema import READ_SCHEMA

MAX_REPORT_DAYS = 366


class FinanceProjector(Projector):
    name = "finance"
    contexts = ("finance",)
    tables = {
        "ledger_lines": [
            """CREATE TABLE {table} (
                entry_id    text NOT NULL,
                line_no     smallint NOT NULL,
                account     text NOT NULL,
                debit       bigint NOT NULL,
                credit      bigint NOT NULL,
                currency    char(3) NOT NULL,
                source      text NOT NULL,
                order_id    uuid,
                booked_at   timestamptz NOT NULL,
                posted_at   timestamptz NOT NULL,
                position    bigint NOT NULL,
                PRIMARY KEY (entry_id, line_no)
            )""",
            "CREATE INDEX ON {table} (order_id)",
            "CREATE INDEX ON {table} (currency, booked_at)",
        ],
        "revenue_daily": [
            """CREATE TABLE {table} (
                currency      char(3) NOT NULL,
                day           date NOT NULL,
                gross         bigint NOT NULL DEFAULT 0,
                refunds       bigint NOT NULL DEFAULT 0,
                net           bigint GENERATED ALWAYS AS (gross - refunds) STORED,
                payments      integer NOT NULL DEFAULT 0,
                refund_count  integer NOT NULL DEFAULT 0,
                PRIMARY KEY (currency, day)
            )""",
        ],
        "order_balances": [
            """CREATE TABLE {table} (
                order_id      uuid PRIMARY KEY,
                currency      char(3) NOT NULL,
                paid          bigint NOT NULL DEFAULT 0,
                refunded      bigint NOT NULL DEFAULT 0,
                balance       bigint GENERATED ALWAYS AS (paid - refunded) STORED,
                payments      integer NOT NULL DEFAULT 0,
                refund_count  integer NOT NULL DEFAULT 0,
                updated_at    timestamptz NOT NULL,
                position      bigint NOT NULL
            )""",
        ],
    }

    async def apply(self, conn: asyncpg.Connection, event: EventEnvelope, t: Tables) -> None:
        if event.type != "LedgerEntryPosted":
            return
        d = event.data
        booked_at = datetime.fromisoformat(d["booked_at"])
        currency = d["currency"]
        await conn.executemany(
            f"INSERT INTO {t['ledger_lines']} (entry_id, line_no, account, debit, credit, "
            "currency, source, order_id, booked_at, posted_at, position) "
            "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
            [
                (
                    d["entry_id"],
                    index,
                    line["account"],
                    line["debit"],
                    line["credit"],
                    currency,
                    d["source"],
                    d.get("order_id"),
                    booked_at,
                    event.occurred_at,
                    event.position,
                )
                for index, line in enumerate(d["lines"])
            ],
        )
        gross = sum(
            line["credit"] - line["debit"] for line in d["lines"] if line["account"] == "revenue"
        )
        refunds = sum(
            line["debit"] - line["credit"] for line in d["lines"] if line["account"] == "refunds"
        )
        is_payment = d["source"] == "payment"
        is_refund = d["source"] == "refund"
        await conn.execute(
            f"INSERT INTO {t['revenue_daily']} AS r (currency, day, gross, refunds, payments, "
            "refund_count) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (currency, day) DO UPDATE "
            "SET gross = r.gross + EXCLUDED.gross, refunds = r.refunds + EXCLUDED.refunds, "
            "payments = r.payments + EXCLUDED.payments, "
            "refund_count = r.refund_count + EXCLUDED.refund_count",
            currency,
            utc_day(booked_at),
            gross,
            refunds,
            int(is_payment),
            int(is_refund),
        )
        if d.get("order_id"):
            cash = sum(
                line["debit"] - line["credit"] for line in d["lines"] if line["account"] == "cash"
            )
            await conn.execute(
                f"INSERT INTO {t['order_balances']} AS b (order_id, currency, paid, refunded, "
                "payments, refund_count, updated_at, position) "
                "VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (order_id) DO UPDATE SET "
                "paid = b.paid + EXCLUDED.paid, refunded = b.refunded + EXCLUDED.refunded, "
                "payments = b.payments + EXCLUDED.payments, "
                "refund_count = b.refund_count + EXCLUDED.refund_count, "
                "updated_at = EXCLUDED.updated_at, position = EXCLUDED.position",
                d["order_id"],
                currency,
                max(cash, 0),
                max(-cash, 0),
                int(is_payment),
                int(is_refund),
                event.occurred_at,
                event.position,
            )


def utc_day(moment: datetime) -> date:
    """The UTC calendar day of an aware datetime (the day revenue is booked on)."""
    offset = moment.utcoffset()
    return (moment - offset).date() if offset else moment.date()


# -- queries -----------------------------------------------------------------------------


@dataclass(frozen=True)
class RevenueDay:
    day: date
    gross: int
    refunds: int
    net: int
    payments: int
    refund_count: int


async def revenue_by_day(
    pool: asyncpg.Pool, currency: str, start: date, end: date
) -> list[RevenueDay]:
    """Revenue per UTC day in [start, end] for ``currency`` (days without entries omitted)."""
    try:
        rows = await pool.fetch(
            f"SELECT day, gross, refunds, net, payments, refund_count "
            f"FROM {READ_SCHEMA}.revenue_daily "
            "WHERE currency = $1 AND day BETWEEN $2 AND $3 ORDER BY day",
            currency,
            start,
            end,
        )
    except asyncpg.UndefinedTableError:  # no projection worker has run yet
        return []
    return [RevenueDay(**dict(row)) for row in rows]


async def order_balance(pool: asyncpg.Pool, order_id: Any) -> dict[str, Any] | None:
    """Paid, refunded and balance of one order, with its ledger lines (None if none posted)."""
    try:
        row = await pool.fetchrow(
            f"SELECT order_id, currency, paid, refunded, balance, payments, refund_count, "
            f"updated_at, position FROM {READ_SCHEMA}.order_balances WHERE order_id = $1",
            order_id,
        )
    except asyncpg.UndefinedTableError:  # no projection worker has run yet
        return None
    if row is None:
        return None
    lines = await pool.fetch(
        f"SELECT entry_id, line_no, account, debit, credit, source, booked_at, position "
        f"FROM {READ_SCHEMA}.ledger_lines WHERE order_id = $1 ORDER BY position, line_no",
        order_id,
    )
    return {**dict(row), "lines": [dict(line) for line in lines]}
