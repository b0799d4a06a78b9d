"""Request and response bodies of the campaigns API (msgspec) and their presenters."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Annotated, Any

import msgspec
from msgspec import Meta

from domain.marketing.aggregates import Campaign
from interfaces.http.schemas import MoneyBody
from projections.campaigns import CampaignAnalytics

CampaignCode = Annotated[
    str,
    Meta(
        min_length=3,
        max_length=32,
        description="3-32 letters, digits and single inner hyphens; stored upper-case",
        examples=["SPRING-24"],
    ),
]


class CampaignCreate(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    code: CampaignCode
    name: Annotated[str, Meta(min_length=1, max_length=100)]
    discount_percent: (
        Annotated[
            int,
            Meta(
                ge=1,
                le=90,
                description="The advertised offer; prices at checkout are not changed by it",
            ),
        ]
        | None
    ) = None
    note: Annotated[str, Meta(max_length=500)] = ""


class CampaignOut(msgspec.Struct, kw_only=True):
    id: uuid.UUID
    version: int
    code: str
    name: str
    status: str
    discount_percent: int | None
    note: str
    product_id: str | None
    position: int | None = None


class CampaignSummary(msgspec.Struct, kw_only=True):
    id: uuid.UUID
    code: str
    name: str
    status: str
    discount_percent: int | None
    note: str
    product_id: str | None
    drafted_at: str
    launched_at: str | None
    ended_at: str | None
    version: int


class CampaignPage(msgspec.Struct, kw_only=True):
    items: list[CampaignSummary]
    next_cursor: str | None
    position: int


class CampaignAnalyticsOut(msgspec.Struct, kw_only=True):
    code: str
    name: str
    status: str
    orders: int
    paid_orders: int
    conversion: float
    """Paid orders / attributed orders (0 when there are none)."""
    revenue: list[MoneyBody]
    """Paid minus refunded, per currency."""
    position: int


def campaign_out(campaign: Campaign, position: int | None = None) -> CampaignOut:
    return CampaignOut(
        id=campaign.id,
        version=campaign.version,
        code=campaign.code,
        name=campaign.name,
        status=campaign.status,
        discount_percent=campaign.discount_percent,
        note=campaign.note,
        product_id=campaign.product_id,
        position=position,
    )


def _iso(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


def campaign_summary(row: Mapping[str, Any]) -> CampaignSummary:
    return CampaignSummary(
        id=row["campaign_id"],
        code=row["code"],
        name=row["name"],
        status=row["status"],
        discount_percent=row["discount_percent"],
        note=row["note"],
        product_id=str(row["product_id"]) if row["product_id"] else None,
        drafted_at=row["drafted_at"].isoformat(),
        launched_at=_iso(row["launched_at"]),
        ended_at=_iso(row["ended_at"]),
        version=row["version"],
    )


def analytics_out(analytics: CampaignAnalytics, position: int) -> CampaignAnalyticsOut:
    campaign = analytics.campaign
    return CampaignAnalyticsOut(
        code=campaign["code"],
        name=campaign["name"],
        status=campaign["status"],
        orders=analytics.orders,
        paid_orders=analytics.paid_orders,
        conversion=analytics.conversion,
        revenue=[MoneyBody(amount, currency) for currency, amount in analytics.revenue.items()],
        position=position,
    )
