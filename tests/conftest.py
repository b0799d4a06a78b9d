"""Session-wide fixtures: real servers, fresh databases, app containers, tokens."""

from __future__ import annotations

import os
import tempfile
from collections.abc import AsyncIterator, Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from infrastructure.bootstrap import Container, bootstrap
from infrastructure.settings import Settings
from interfaces.http.auth import issue_token
from tests.servers import RunningServers, start_test_servers

JWT_SECRET = "test-secret-" + "x" * 40


@pytest.fixture(scope="session")
def servers() -> Iterator[RunningServers]:
    """Real PostgreSQL and NATS JetStream for the whole session."""
    base = Path(os.environ.get("MODISTE_TEST_DATA_DIR") or tempfile.mkdtemp(prefix="modiste-test-"))
    running = start_test_servers(base)
    yield running
    running.stop()


@pytest.fixture(scope="session")
def settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    data_dir = tmp_path_factory.mktemp("data")
    return replace(Settings.from_env(), data_dir=data_dir, db_pool_size=4, db_pool_max_overflow=8)


@pytest.fixture
def database_url(servers: RunningServers) -> str:
    """A fresh empty database for one test."""
    return servers.create_database()


@pytest.fixture
def container(settings: Settings, database_url: str) -> Iterator[Container]:
    built = bootstrap(settings, database_url)
    yield built
    built.close()


def bearer(role: str, sub: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {issue_token(JWT_SECRET, sub=sub, role=role)}"}


@pytest.fixture
async def api(settings: Settings, database_url: str, servers: RunningServers) -> AsyncIterator[object]:
    """An AsyncTestClient over the real app on a fresh database."""
    from litestar.testing import AsyncTestClient

    from interfaces.http.app import ApiConfig, create_app

    app = create_app(ApiConfig(settings, database_url, servers.nats_url, JWT_SECRET))
    async with AsyncTestClient(app) as client:
        yield client


@pytest.fixture
async def clean_streams(servers: RunningServers, settings: Settings) -> AsyncIterator[None]:
    """Tests share one NATS server: start each fan-out test with no streams at all."""
    import nats
    from nats.js.errors import NotFoundError

    nc = await nats.connect(servers.nats_url)
    js = nc.jetstream()
    for name in (settings.stream_name, f"{settings.stream_name}_DLQ"):
        try:
            await js.delete_stream(name)
        except NotFoundError:
            pass
    await nc.drain()
    yield


@pytest.fixture
async def pipeline(
    settings: Settings, database_url: str, servers: RunningServers, clean_streams: None
) -> AsyncIterator[object]:
    """The relay and the projection workers running as tasks beside the test."""
    import asyncio

    from interfaces.workers import run_relay, run_worker

    stop = asyncio.Event()
    tasks = [
        asyncio.create_task(run_relay(settings, database_url, servers.nats_url, stop)),
        asyncio.create_task(
            run_worker("projections", settings, database_url, servers.nats_url, stop)
        ),
    ]
    yield tasks
    stop.set()
    await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), 30)
