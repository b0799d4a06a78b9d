"""Campaigns: merchants draft, launch and end them, and read their analytics."""

from __future__ import annotations

import uuid
from typing import Annotated, Any, Literal

import asyncpg
from litestar import Controller, Request, Response, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody, QueryParameter

from application.errors import NotFoundError
from application.marketing import DraftCampaign
from domain.marketing.aggregates import normalise_code
from infrastructure.bootstrap import Container
from interfaces.http.auth import requires_role
from interfaces.http.campaigns_schemas import (
    CampaignAnalyticsOut,
    CampaignCreate,
    CampaignOut,
    CampaignPage,
    analytics_out,
    campaign_out,
    campaign_summary,
)
from interfaces.http.context import caught_up, in_thread, read_in_thread
from interfaces.http.controllers.products import IfMatch, expected_version
from interfaces.http.presenters import version_headers
from projections.campaigns import campaign_analytics, list_campaigns

READ_MODEL = "campaigns"
READERS = ("merchant", "operator")
MinPosition = Annotated[
    int | None,
    QueryParameter(
        ge=0,
        description="Wait until the campaigns read model has applied this position "
        "(read-your-writes); 503 with Retry-After if it has not in time",
    ),
]


class CampaignController(Controller):
    path = "/campaigns"
    tags = ["campaigns"]

    @post("/", operation_id="draftCampaign", guards=[requires_role("merchant")], status_code=201)
    async def draft_campaign(
        self,
        request: Request[Any, Any, Any],
        data: JSONBody[CampaignCreate],
        container: NamedDependency[Container],
    ) -> Response[CampaignOut]:
        """Draft a campaign. Its code must be unique (409 otherwise); it is stored upper-case.

        Orders are attributed to it only once it is launched.
        """
        result = await in_thread(
            request,
            container.marketing.draft_campaign,
            DraftCampaign(
                code=data.code,
                name=data.name,
                discount_percent=data.discount_percent,
                note=data.note,
            ),
        )
        headers = version_headers(result.aggregate.version, result.position)
        headers["Location"] = f"/campaigns/{result.aggregate.id}"
        return Response(
            campaign_out(result.aggregate, result.position), status_code=201, headers=headers
        )

    @post(
        "/{campaign_id:uuid}/launch",
        operation_id="launchCampaign",
        guards=[requires_role("merchant")],
        status_code=200,
    )
    async def launch_campaign(
        self,
        request: Request[Any, Any, Any],
        campaign_id: FromPath[uuid.UUID],
        container: NamedDependency[Container],
        if_match: IfMatch = None,
    ) -> Response[CampaignOut]:
        """Launch a drafted campaign: from now on orders placed with its code are attributed."""
        result = await in_thread(
            request,
            lambda: container.marketing.launch_campaign(
                campaign_id, expected_version=expected_version(if_match)
            ),
        )
        return Response(
            campaign_out(result.aggregate, result.position),
            headers=version_headers(result.aggregate.version, result.position),
        )

    @post(
        "/{campaign_id:uuid}/end",
        operation_id="endCampaign",
        guards=[requires_role("merchant")],
        status_code=200,
    )
    async def end_campaign(
        self,
        request: Request[Any, Any, Any],
        campaign_id: FromPath[uuid.UUID],
        container: NamedDependency[Container],
        if_match: IfMatch = None,
        reason: Annotated[str, QueryParameter(max_length=200)] = "",
    ) -> Response[CampaignOut]:
        """End a campaign; its code is refused for new orders, attributed orders stay."""
        result = await in_thread(
            request,
            lambda: container.marketing.end_campaign(
                campaign_id, reason, expected_version=expected_version(if_match)
            ),
        )
        return Response(
            campaign_out(result.aggregate, result.position),
            headers=version_headers(result.aggregate.version, result.position),
        )

    @get("/", operation_id="listCampaigns", guards=[requires_role(*READERS)])
    async def list_campaigns(
        self,
        db_pool: NamedDependency[asyncpg.Pool],
        container: NamedDependency[Container],
        status: Annotated[Literal["drafted", "launched", "ended"] | None, QueryParameter()] = None,
        limit: Annotated[int, QueryParameter(ge=1, le=100)] = 20,
        cursor: Annotated[str | None, QueryParameter(max_length=500)] = None,
        min_position: MinPosition = None,
    ) -> CampaignPage:
        """Campaigns, newest first, from the campaigns read model."""
        position = await caught_up(
            db_pool, READ_MODEL, min_position, container.settings.read_wait_timeout_seconds
        )
        page = await list_campaigns(db_pool, status, limit, cursor)
        return CampaignPage(
            items=[campaign_summary(row) for row in page.items],
            next_cursor=page.next_cursor,
            position=position,
        )

    @get("/{campaign_id:uuid}", operation_id="getCampaign", guards=[requires_role(*READERS)])
    async def get_campaign(
        self, campaign_id: FromPath[uuid.UUID], container: NamedDependency[Container]
    ) -> Response[CampaignOut]:
        """Read one campaign straight from its event stream."""
        campaign = await read_in_thread(container.marketing.get_campaign, campaign_id)
        return Response(campaign_out(campaign), headers=version_headers(campaign.version, None))

    @get(
        "/{code:str}/analytics",
        operation_id="campaignAnalytics",
        guards=[requires_role(*READERS)],
    )
    async def analytics(
        self,
        code: FromPath[str],
        db_pool: NamedDependency[asyncpg.Pool],
        container: NamedDependency[Container],
        min_position: MinPosition = None,
    ) -> CampaignAnalyticsOut:
        """Attributed orders, paid orders, conversion (paid / orders) and revenue per currency."""
        normalised = normalise_code(code)
        position = await caught_up(
            db_pool, READ_MODEL, min_position, container.settings.read_wait_timeout_seconds
        )
        analytics = await campaign_analytics(db_pool, normalised)
        if analytics is None:
            raise NotFoundError("campaign", normalised)
        return analytics_out(analytics, position)
