"""Response bodies of the finance API (msgspec) and their presenters."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from datetime import date
from typing import Any

import msgspec

from interfaces.http.schemas import MoneyBody
from projections.finance import RevenueDay


class RevenueDayOut(msgspec.Struct, kw_only=True):
    day: date
    gross: MoneyBody
    refunds: MoneyBody
    net: MoneyBody
    payments: int
    refund_count: int


class RevenueTotals(msgspec.Struct, kw_only=True):
    gross: MoneyBody
    refunds: MoneyBody
    net: MoneyBody
    payments: int
    refund_count: int


class RevenueOut(msgspec.Struct, kw_only=True):
    currency: str
    start: date = msgspec.field(name="from")
    end: date = msgspec.field(name="to")
    days: list[RevenueDayOut]
    totals: RevenueTotals
    position: int


class LedgerLineOut(msgspec.Struct, kw_only=True):
    entry_id: str
    account: str
    debit: int
    credit: int
    source: str
    booked_at: str


class OrderBalanceOut(msgspec.Struct, kw_only=True):
    order_id: uuid.UUID
    paid: MoneyBody
    refunded: MoneyBody
    balance: MoneyBody
    payments: int
    refund_count: int
    lines: list[LedgerLineOut]
    position: int


def revenue_out(
    currency: str, start: date, end: date, days: Sequence[RevenueDay], position: int
) -> RevenueOut:
    def money(amount: int) -> MoneyBody:
        return MoneyBody(amount, currency)

    gross = sum(d.gross for d in days)
    refunds = sum(d.refunds for d in days)
    return RevenueOut(
        currency=currency,
        start=start,
        end=end,
        days=[
            RevenueDayOut(
                day=d.day,
                gross=money(d.gross),
                refunds=money(d.refunds),
                net=money(d.net),
                payments=d.payments,
                refund_count=d.refund_count,
            )
            for d in days
        ],
        totals=RevenueTotals(
            gross=money(gross),
            refunds=money(refunds),
            net=money(gross - refunds),
            payments=sum(d.payments for d in days),
            refund_count=sum(d.refund_count for d in days),
        ),
        position=position,
    )


def order_balance_out(
    order_id: uuid.UUID, currency: str, row: Mapping[str, Any] | None, position: int
) -> OrderBalanceOut:
    """The balance read-model row of an order (zeros when nothing was posted for it yet)."""
    row = row or {}
    return OrderBalanceOut(
        order_id=order_id,
        paid=MoneyBody(int(row.get("paid", 0)), currency),
        refunded=MoneyBody(int(row.get("refunded", 0)), currency),
        balance=MoneyBody(int(row.get("balance", 0)), currency),
        payments=int(row.get("payments", 0)),
        refund_count=int(row.get("refund_count", 0)),
        lines=[
            LedgerLineOut(
                entry_id=line["entry_id"],
                account=line["account"],
                debit=line["debit"],
                credit=line["credit"],
                source=line["source"],
                booked_at=line["booked_at"].isoformat(),
            )
            for line in row.get("lines", [])
        ],
        position=position,
    )
