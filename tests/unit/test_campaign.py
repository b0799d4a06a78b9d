"""The Campaign: validated unique codes, draft -> launch -> end."""

from __future__ import annotations

import pytest

from application.agents.marketing import launch_code
from domain.marketing.aggregates import (
    ENDED,
    LAUNCHED,
    Campaign,
    campaign_id,
    normalise_code,
)
from domain.shared.errors import InvariantViolationError, ValidationError


def a_campaign(code: str = "spring-24") -> Campaign:
    return Campaign.draft(code=code, name="Spring", discount_percent=15, note="linen")


def test_codes_are_stored_upper_case_and_name_the_stream() -> None:
    campaign = a_campaign(" spring-24 ")
    assert campaign.code == "SPRING-24"
    assert campaign.id == campaign_id("Spring-24") == campaign_id("SPRING-24")


@pytest.mark.parametrize("code", ["", "ab", "-ABC", "ABC-", "A--B", "SPRING 24", "x" * 33, "ÉTÉ"])
def test_malformed_codes_are_refused(code: str) -> None:
    with pytest.raises(ValidationError) as caught:
        normalise_code(code)
    assert caught.value.field == "code"


@pytest.mark.parametrize(
    ("field", "kwargs"),
    [
        ("name", {"name": "  "}),
        ("name", {"name": "n" * 101}),
        ("discount_percent", {"discount_percent": 0}),
        ("discount_percent", {"discount_percent": 91}),
        ("note", {"note": "n" * 501}),
    ],
)
def test_bad_drafts_name_the_field(field: str, kwargs: dict[str, object]) -> None:
    values: dict[str, object] = {"code": "SUMMER", "name": "Summer", **kwargs}
    with pytest.raises(ValidationError) as caught:
        Campaign.draft(**values)  # type: ignore[arg-type]
    assert caught.value.field == field


def test_launch_then_end() -> None:
    campaign = a_campaign()
    assert not campaign.is_running
    campaign.launch()
    campaign.launch()  # no-op
    assert campaign.status == LAUNCHED and campaign.is_running
    campaign.end("season over")
    campaign.end()  # no-op
    assert campaign.status == ENDED and not campaign.is_running
    names = [type(e).__name__ for e in campaign.collect_events()]
    assert names == ["CampaignDrafted", "CampaignLaunched", "CampaignEnded"]


def test_an_ended_campaign_cannot_be_relaunched() -> None:
    campaign = a_campaign()
    campaign.end()
    with pytest.raises(InvariantViolationError):
        campaign.launch()


def test_automatic_launch_codes_are_valid_codes() -> None:
    code = launch_code("0b8c8f8e-5d1c-4a3f-9f77-6c3f1c2d9e01")
    assert code == "NEW-0B8C8F8E" == normalise_code(code)
