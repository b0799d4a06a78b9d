"""The marketing context: a Campaign with a unique code, drafted, launched and ended.

The code is what customers type at checkout; orders placed with the code of a launched
campaign are attributed to it. A campaign's id is derived from its code, so the event store
itself keeps codes unique (a second campaign with the same code is a version conflict).
"""

from __future__ import annotations

import re
import uuid
from typing import Any

from domain.shared.aggregate import ModisteAggregate
from domain.shared.errors import InvariantViolationError, ValidationError

CAMPAIGN_NAMESPACE = uuid.UUID("5d0f4b7e-2c1a-4e8b-b6a4-8e2d9c3f7a20")
CODE_PATTERN = re.compile(r"^[A-Z0-9](?:[A-Z0-9-]{1,30})[A-Z0-9]$")
MAX_NAME_LENGTH = 100
MAX_NOTE_LENGTH = 500
MAX_DISCOUNT_PERCENT = 90

DRAFTED = "drafted"
LAUNCHED = "launched"
ENDED = "ended"
STATUSES = (DRAFTED, LAUNCHED, ENDED)


class CampaignCodeTakenError(InvariantViolationError):
    """Another campaign already uses this code."""


def normalise_code(code: str, field: str = "code") -> str:
    """Upper-case ``code`` and check it: 3-32 of A-Z, 0-9 and inner hyphens."""
    cleaned = code.strip().upper()
    if not CODE_PATTERN.match(cleaned) or "--" in cleaned:
        raise ValidationError(
            "a campaign code has 3 to 32 letters, digits and single inner hyphens, e.g. SPRING-24",
            field,
        )
    return cleaned


def campaign_id(code: str, field: str = "code") -> uuid.UUID:
    """The id of the campaign with ``code`` (the same for any spelling case)."""
    return uuid.uuid5(CAMPAIGN_NAMESPACE, normalise_code(code, field))


class Campaign(ModisteAggregate):
    """A marketing campaign. Drafted -> launched -> ended; a draft may also just end."""

    class CampaignDrafted(ModisteAggregate.Created):
        code: str
        name: str
        discount_percent: int | None
        note: str
        product_id: str | None

    class CampaignLaunched(ModisteAggregate.Event):
        def apply(self, aggregate: Any) -> None:
            aggregate.status = LAUNCHED

    class CampaignEnded(ModisteAggregate.Event):
        reason: str

        def apply(self, aggregate: Any) -> None:
            aggregate.status = ENDED

    def __init__(
        self,
        code: str,
        name: str,
        discount_percent: int | None,
        note: str,
        product_id: str | None,
    ) -> None:
        self.code = code
        self.name = name
        self.discount_percent = discount_percent
        self.note = note
        self.product_id = product_id
        self.status = DRAFTED

    # -- commands ------------------------------------------------------------------------

    @classmethod
    def draft(
        cls,
        *,
        code: str,
        name: str,
        discount_percent: int | None = None,
        note: str = "",
        product_id: str | None = None,
    ) -> Campaign:
        """Draft a campaign; it attributes orders only once launched."""
        cleaned_code = normalise_code(code)
        cleaned_name = name.strip()
        if not cleaned_name:
            raise ValidationError("a campaign needs a name", "name")
        if len(cleaned_name) > MAX_NAME_LENGTH:
            raise ValidationError(f"name is longer than {MAX_NAME_LENGTH} characters", "name")
        if discount_percent is not None and (
            isinstance(discount_percent, bool)
            or not isinstance(discount_percent, int)
            or not 1 <= discount_percent <= MAX_DISCOUNT_PERCENT
        ):
            raise ValidationError(
                f"discount_percent is a whole number from 1 to {MAX_DISCOUNT_PERCENT}",
                "discount_percent",
            )
        cleaned_note = note.strip()
        if len(cleaned_note) > MAX_NOTE_LENGTH:
            raise ValidationError(f"note is longer than {MAX_NOTE_LENGTH} characters", "note")
        campaign: Campaign = cls._create(
            cls.CampaignDrafted,
            id=campaign_id(cleaned_code),
            code=cleaned_code,
            name=cleaned_name,
            discount_percent=discount_percent,
            note=cleaned_note,
            product_id=product_id,
        )
        return campaign

    def launch(self) -> None:
        """Start attributing orders (no-op when already launched)."""
        if self.status == LAUNCHED:
            return
        if self.status == ENDED:
            raise InvariantViolationError(f"campaign {self.code} has ended; draft a new one")
        self.trigger_event(self.CampaignLaunched)

    def end(self, reason: str = "") -> None:
        """Stop the campaign (no-op when already ended). Attributed orders stay attributed."""
        if self.status == ENDED:
            return
        self.trigger_event(self.CampaignEnded, reason=reason.strip()[:200])

    # -- queries -------------------------------------------------------------------------

    @property
    def is_running(self) -> bool:
        """True while orders placed with the code are attributed to the campaign."""
        return self.status == LAUNCHED
