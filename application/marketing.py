"""Marketing use cases: draft, launch and end campaigns; find a campaign by its code."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from eventsourcing.persistence import IntegrityError, Tracking

from application.base import CommandResult, ModisteApplication, last_position
from application.errors import NotFoundError
from domain.marketing.aggregates import Campaign, CampaignCodeTakenError, campaign_id


@dataclass(frozen=True)
class DraftCampaign:
    code: str
    name: str
    discount_percent: int | None = None
    note: str = ""
    product_id: str | None = None


class MarketingApplication(ModisteApplication):
    """The marketing context's command and query façade."""

    def draft_campaign(
        self, command: DraftCampaign, *, tracking: Tracking | None = None
    ) -> CommandResult[Campaign]:
        """Draft a campaign; a code already in use is a CampaignCodeTakenError."""
        campaign = Campaign.draft(
            code=command.code,
            name=command.name,
            discount_percent=command.discount_percent,
            note=command.note,
            product_id=command.product_id,
        )
        if self.find_by_code(campaign.code) is not None:
            raise CampaignCodeTakenError(f"campaign code {campaign.code} is taken")
        try:
            return CommandResult(campaign, last_position(self.save_tracked(tracking, campaign)))
        except IntegrityError:
            if tracking is not None:
                raise  # let the agent re-check its tracking record first
            raise CampaignCodeTakenError(f"campaign code {campaign.code} is taken") from None

    def launch_campaign(
        self, campaign: uuid.UUID, *, expected_version: int | None = None
    ) -> CommandResult[Campaign]:
        return self.execute(
            campaign, Campaign, lambda c: c.launch(), expected_version=expected_version
        )

    def end_campaign(
        self, campaign: uuid.UUID, reason: str = "", *, expected_version: int | None = None
    ) -> CommandResult[Campaign]:
        return self.execute(
            campaign, Campaign, lambda c: c.end(reason), expected_version=expected_version
        )

    def get_campaign(self, campaign: uuid.UUID) -> Campaign:
        return self.load(campaign, Campaign)

    def find_by_code(self, code: str, field: str = "code") -> Campaign | None:
        """The campaign with ``code`` (any case), or None. A malformed code is a ValidationError."""
        try:
            return self.load(campaign_id(code, field), Campaign)
        except NotFoundError:
            return None
