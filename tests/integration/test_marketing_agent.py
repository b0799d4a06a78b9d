"""The MarketingAgent drafts a launch campaign per listed product when the policy says so."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from dataclasses import replace

import psycopg
import pytest

from application.agents.marketing import launch_code
from application.catalog import ListProduct
from domain.marketing.aggregates import DRAFTED
from domain.shared.money import Money
from infrastructure.bootstrap import Container
from infrastructure.settings import Settings
from tests.conftest import BackgroundPipeline
from tests.servers import RunningServers


@pytest.fixture
def auto_drafting_pipeline(
    settings: Settings, database_url: str, servers: RunningServers, clean_streams: None
) -> Iterator[BackgroundPipeline]:
    running = BackgroundPipeline(
        replace(settings, marketing_auto_draft=True),
        database_url,
        servers.nats_url,
        groups=("agents",),
    )
    yield running
    running.stop()


def list_product(container: Container, title: str) -> str:
    return str(
        container.catalog.list_product(
            ListProduct(
                title=title,
                description="",
                category="knitwear",
                brand="b",
                price=Money(9900, "EUR"),
            )
        ).aggregate.id
    )


def test_a_listed_product_gets_a_draft_campaign(
    container: Container, database_url: str, auto_drafting_pipeline: BackgroundPipeline
) -> None:
    product_id = list_product(container, "Mohair cardigan")
    code = launch_code(product_id)
    deadline = time.monotonic() + 20
    while (campaign := container.marketing.find_by_code(code)) is None:
        assert time.monotonic() < deadline, "no campaign was drafted"
        time.sleep(0.05)
    assert campaign.status == DRAFTED
    assert campaign.product_id == product_id
    assert campaign.name == "New in: Mohair cardigan"
    with psycopg.connect(database_url) as conn:
        [(count,)] = conn.execute(
            "SELECT count(*) FROM modiste_tracking WHERE application_name = 'agent-marketing'"
        ).fetchall()
    assert count == 1


async def consumer_caught_up(nats_url: str, stream: str, durable: str, sequence: int) -> bool:
    """True once ``durable`` has acked every stream message up to ``sequence``."""
    import nats
    from nats.js.errors import NotFoundError

    nc = await nats.connect(nats_url)
    try:
        info = await nc.jetstream().consumer_info(stream, durable)
    except NotFoundError:
        return False
    finally:
        await nc.drain()
    return bool(
        info.ack_floor
        and info.ack_floor.stream_seq
        and info.num_pending == 0
        and info.num_ack_pending == 0
        and info.ack_floor.stream_seq >= sequence
    )


def test_with_the_policy_off_nothing_is_drafted(
    container: Container,
    database_url: str,
    servers: RunningServers,
    full_pipeline: BackgroundPipeline,
) -> None:
    assert not container.settings.marketing_auto_draft
    listed = container.catalog.list_product(
        ListProduct(
            title="Wool scarf",
            description="",
            category="knitwear",
            brand="b",
            price=Money(4900, "EUR"),
        )
    )
    # On a fresh stream the relay publishes each event once, in order: the event's stream
    # sequence is its rank in the store. An agent acked up to it has handled ProductListed.
    with psycopg.connect(database_url) as conn:
        [(sequence,)] = conn.execute(
            "SELECT count(*) FROM modiste_events WHERE notification_id <= %s", (listed.position,)
        ).fetchall()
    deadline = time.monotonic() + 20
    while not asyncio.run(
        consumer_caught_up(
            servers.nats_url, container.settings.stream_name, "agent-marketing", sequence
        )
    ):
        assert time.monotonic() < deadline, "the marketing agent never caught up"
        time.sleep(0.1)
    assert container.marketing.find_by_code(launch_code(str(listed.aggregate.id))) is None
