"""Partners over real NATS with authorization on: `modiste partners add` credentials read
exactly what they were allowed, through the publisher, and nothing else."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import nats
import pytest
from nats.js.api import ConsumerConfig

from application.ateliers import RegisterAtelier, RequestMatch
from domain.ateliers.aggregates import atelier_id_for
from domain.ateliers.matching import AtelierProfile, DesignRequirements
from domain.ateliers.values import Capabilities, ContactDetails, GeoPoint, Location, PriceBand
from domain.shared.money import Money
from infrastructure.bootstrap import Container
from infrastructure.local import LocalNats
from infrastructure.local.nats_auth import NatsAccess
from infrastructure.messaging.partners import PUBLIC_STREAM
from infrastructure.settings import Settings
from tests.conftest import BackgroundPipeline

ROOT = Path(__file__).resolve().parents[2]
SCHEMA_FILE = ROOT / "docs" / "partners" / "events-v1.schema.json"
ATELIER_A = str(atelier_id_for("p-lune"))
ATELIER_B = str(atelier_id_for("p-soleil"))


@dataclass
class PartnerServer:
    data_dir: Path
    server: LocalNats
    url: str
    internal_url: str

    def partners_cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("MODISTE_")}
        env["MODISTE_DATA_DIR"] = str(self.data_dir)
        env["MODISTE_LOG_LEVEL"] = "WARNING"
        return subprocess.run(
            [sys.executable, "-m", "interfaces.cli.main", "partners", *args],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    def credentials(self, name: str) -> dict[str, Any]:
        return json.loads((self.data_dir / "partners" / f"{name}.json").read_text())


@pytest.fixture
def partner_server(tmp_path: Path) -> Iterator[PartnerServer]:
    """A nats-server of its own, with authorization, as local mode runs it."""
    data_dir = tmp_path / "data"
    access = NatsAccess.load_or_create(data_dir)
    server = LocalNats(data_dir / "nats", config_text=access.config_text())
    url = server.start()
    yield PartnerServer(data_dir, server, url, access.internal_url(url))
    server.stop()


async def connect_as(creds: dict[str, Any], url: str, errors: list[str]) -> Any:
    async def on_error(exc: Exception) -> None:
        errors.append(str(exc))

    return await nats.connect(
        url,
        user=creds["user"],
        password=creds["password"],
        inbox_prefix=creds["inbox_prefix"],
        allow_reconnect=False,
        error_cb=on_error,
        connect_timeout=2,
    )


async def wait_for(predicate: Any, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.05)
    return True


async def test_a_partner_reads_only_what_it_was_allowed(partner_server: PartnerServer) -> None:
    added = partner_server.partners_cli("add", "lune", "--atelier", ATELIER_A)
    assert added.returncode == 0, added.stderr
    assert "reloaded" in added.stdout and "durable consumer partner-lune" in added.stdout
    assert partner_server.partners_cli("add", "soleil", "--atelier", ATELIER_B).returncode == 0
    lune = partner_server.credentials("lune")
    assert lune["allow"] == [f"modiste.public.v1.ateliers.{ATELIER_A}.>"]

    internal = await nats.connect(partner_server.internal_url, allow_reconnect=False)
    js = internal.jetstream()
    mine = f"modiste.public.v1.ateliers.{ATELIER_A}.match_requested"
    theirs = f"modiste.public.v1.ateliers.{ATELIER_B}.match_requested"
    await js.publish(mine, b'{"for":"lune"}', stream=PUBLIC_STREAM)
    await js.publish(theirs, b'{"for":"soleil"}', stream=PUBLIC_STREAM)

    errors: list[str] = []
    nc = await connect_as(lune, partner_server.url, errors)
    try:
        # The durable consumer Modiste made for it holds its messages only.
        pull = await nc.jetstream().pull_subscribe_bind(
            durable="partner-lune", stream=PUBLIC_STREAM
        )
        [msg] = await pull.fetch(10, timeout=2)
        assert msg.data == b'{"for":"lune"}'
        await msg.ack()

        # A plain subscription on its own subject receives live messages ...
        received: list[bytes] = []
        refused: list[bytes] = []

        async def collect(msg: Any) -> None:
            received.append(msg.data)

        async def leak(msg: Any) -> None:
            refused.append(msg.data)

        await nc.subscribe(f"modiste.public.v1.ateliers.{ATELIER_A}.>", cb=collect)
        # ... but one outside its permissions is refused by the server.
        await nc.subscribe(theirs, cb=leak)
        await nc.subscribe("modiste.events.>", cb=leak)
        await nc.subscribe("modiste.public.v1.>", cb=leak)
        await nc.flush()
        assert await wait_for(lambda: len(errors) >= 3)
        await internal.publish(mine, b"live")
        await internal.publish(theirs, b"not for lune")
        await internal.publish("modiste.events.orders.OrderPlaced", b"internal")
        await internal.flush()
        assert await wait_for(lambda: received == [b"live"])
        await asyncio.sleep(0.2)
        assert refused == []
        assert all("permissions violation for subscription" in e.lower() for e in errors[:3])

        # It cannot drive another partner's consumer, nor make one with a wider filter,
        # nor publish anything.
        errors.clear()
        other = await nc.jetstream().pull_subscribe_bind(
            durable="partner-soleil", stream=PUBLIC_STREAM
        )
        with pytest.raises(nats.errors.TimeoutError):
            await other.fetch(1, timeout=1)
        with pytest.raises((nats.errors.TimeoutError, nats.errors.NoRespondersError)):
            await nc.jetstream(timeout=1).add_consumer(
                PUBLIC_STREAM, ConsumerConfig(durable_name="sneaky")
            )
        await nc.publish(mine, b"forged")
        await nc.flush()
        assert await wait_for(lambda: len(errors) >= 3)
        assert all("permissions violation for publish" in e.lower() for e in errors)
    finally:
        await nc.close()

    # The other partner's messages were untouched by lune's attempts.
    soleil_errors: list[str] = []
    soleil = await connect_as(
        partner_server.credentials("soleil"), partner_server.url, soleil_errors
    )
    try:
        pull = await soleil.jetstream().pull_subscribe_bind(
            durable="partner-soleil", stream=PUBLIC_STREAM
        )
        messages = await pull.fetch(10, timeout=2)
        # Its own two messages; lune's forged publish never reached the stream.
        assert [m.data for m in messages] == [b'{"for":"soleil"}', b"not for lune"]
    finally:
        await soleil.close()
        await internal.close()


async def test_removing_a_partner_locks_it_out_at_once(partner_server: PartnerServer) -> None:
    assert partner_server.partners_cli("add", "lune", "--atelier", ATELIER_A).returncode == 0
    creds = partner_server.credentials("lune")
    nc = await connect_as(creds, partner_server.url, [])
    await nc.close()
    removed = partner_server.partners_cli("remove", "lune")
    assert removed.returncode == 0, removed.stderr
    with pytest.raises(nats.errors.Error, match="Authorization Violation"):
        await connect_as(creds, partner_server.url, [])


def test_partners_add_refuses_subjects_outside_the_public_tree(
    partner_server: PartnerServer,
) -> None:
    refused = partner_server.partners_cli("add", "lune", "--allow", "modiste.events.>")
    assert refused.returncode == 2
    assert "modiste.public.v1" in refused.stderr
    assert partner_server.partners_cli("add", "lune").returncode == 2


def capabilities() -> Capabilities:
    return Capabilities.of(
        categories=["dresses"],
        max_complexity=4,
        location=Location(GeoPoint(48.85, 2.35), "Paris"),
        price_band=PriceBand(10_000, 50_000, "EUR"),
        capacity_per_month=5,
    )


def run_example(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(ROOT / "examples" / "partner_subscriber.py"), *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def test_the_example_partner_receives_its_match_requests_validated(
    partner_server: PartnerServer,
    container: Container,
    settings: Settings,
    database_url: str,
) -> None:
    assert partner_server.partners_cli("add", "lune", "--atelier", ATELIER_A).returncode == 0
    pipeline = BackgroundPipeline(
        replace(settings, data_dir=partner_server.data_dir),
        database_url,
        partner_server.internal_url,
        groups=("partners",),
    )
    try:
        profiles = []
        for partner in ("p-lune", "p-soleil"):
            atelier = container.ateliers.register_atelier(
                RegisterAtelier(
                    name=partner,
                    partner_id=partner,
                    capabilities=capabilities(),
                    contact=ContactDetails(f"{partner}@ateliers.example", "+33 1 23 45 67 89"),
                )
            ).aggregate
            profiles.append(AtelierProfile(str(atelier.id), atelier.capabilities))
        design_id = uuid.uuid4()
        container.ateliers.request_match(
            RequestMatch(
                design_id=design_id,
                requested_by="designer-1",
                requirements=DesignRequirements("dresses", 3, Money(30_000, "EUR")),
            ),
            profiles,
        )
        creds = str(partner_server.data_dir / "partners" / "lune.json")
        done = run_example(
            "--credentials",
            creds,
            "--schema",
            str(SCHEMA_FILE),
            "--max-messages",
            "1",
            "--timeout",
            "45",
            "--strict",
        )
        assert done.returncode == 0, done.stderr
        [line] = done.stdout.splitlines()
        printed = json.loads(line)
        assert printed["type"] == "MatchRequested"
        assert printed["subject"] == f"modiste.public.v1.ateliers.{ATELIER_A}.match_requested"
        assert printed["message"]["design_id"] == str(design_id)
        assert printed["message"]["atelier_id"] == ATELIER_A

        # Asking for the other atelier's subject is refused, and the example says so.
        refused = run_example(
            "--credentials",
            creds,
            "--schema",
            str(SCHEMA_FILE),
            "--plain",
            "--subject",
            f"modiste.public.v1.ateliers.{ATELIER_B}.>",
            "--timeout",
            "10",
        )
        assert refused.returncode == 2, refused.stdout + refused.stderr
        assert "permissions violation" in refused.stderr.lower()
    finally:
        pipeline.stop()


def test_partners_add_without_a_running_server_defers_the_consumer(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MODISTE_")}
    env["MODISTE_DATA_DIR"] = str(tmp_path)
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "interfaces.cli.main",
            "partners",
            "add",
            "lune",
            "--atelier",
            ATELIER_A,
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "not running" in done.stdout
    assert "created when the partners worker next runs" in done.stdout
    assert "partner-lune" in (tmp_path / "nats" / "nats.conf").read_text()
