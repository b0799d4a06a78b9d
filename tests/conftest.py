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
from tests.servers import TestServers, start_test_servers

JWT_SECRET = "test-secret-" + "x" * 40


@pytest.fixture(scope="session")
def servers() -> Iterator[TestServers]:
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
def database_url(servers: TestServers) -> str:
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
async def api(settings: Settings, database_url: str, servers: TestServers) -> AsyncIterator[object]:
    """An AsyncTestClient over the real app on a fresh database."""
    from litestar.testing import AsyncTestClient

    from interfaces.http.app import ApiConfig, create_app

    app = create_app(ApiConfig(settings, database_url, servers.nats_url, JWT_SECRET))
    async with AsyncTestClient(app) as client:
        yield client
