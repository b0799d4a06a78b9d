"""MarketingAgent: a newly listed product gets a draft launch campaign, when policy says so.

The policy (``MODISTE_MARKETING_AUTO_DRAFT``) is read when each event is handled, so
switching it on drafts campaigns for products listed from then on, never for the back
catalogue. The draft is saved with the tracking record of ProductListed; a merchant
reviews and launches it. Order attribution needs no agent: the campaign analytics read
model joins orders to campaigns by code.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from eventsourcing.persistence import Tracking

from application.agents.base import Agent, Envelope
from application.marketing import DraftCampaign, MarketingApplication
from domain.marketing.aggregates import MAX_NAME_LENGTH

NAME = "agent-marketing"


def launch_code(product_id: str) -> str:
    """The code of a product's automatic launch campaign, e.g. NEW-1A2B3C4D."""
    return f"NEW-{uuid.UUID(product_id).hex[:8].upper()}"


class MarketingPolicies:
    def __init__(self, marketing: MarketingApplication, auto_draft: Callable[[], bool]) -> None:
        self.marketing = marketing
        self.auto_draft = auto_draft

    def on_product_listed(self, envelope: Envelope, tracking: Tracking) -> None:
        if not self.auto_draft():
            return
        code = launch_code(envelope.aggregate_id)
        if self.marketing.find_by_code(code) is not None:
            self.marketing.save_tracked(tracking)
            return
        title = str(envelope.data.get("title", "")).strip() or "new product"
        self.marketing.draft_campaign(
            DraftCampaign(
                code=code,
                name=f"New in: {title}"[:MAX_NAME_LENGTH],
                note=f"Drafted automatically when product {envelope.aggregate_id} was listed.",
                product_id=envelope.aggregate_id,
            ),
            tracking=tracking,
        )


def marketing_agent(marketing: MarketingApplication, auto_draft: Callable[[], bool]) -> Agent:
    policies = MarketingPolicies(marketing, auto_draft)
    handlers: dict[str, Any] = {"ProductListed": policies.on_product_listed}
    return Agent(NAME, ["catalog"], handlers, marketing)
