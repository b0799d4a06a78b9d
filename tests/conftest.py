"""Session-wide fixtures: real servers, fresh databases, app containers, tokens."""

from __future__ import annotations

import contextlib
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
    # A loaded CI machine can take seconds to project; tests wait up to 15 s for a position.
    return replace(
        Settings.from_env(),
        data_dir=data_dir,
        db_pool_size=4,
        db_pool_max_overflow=8,
        read_wait_timeout_seconds=15.0,
    )


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
async def api(
    settings: Settings, database_url: str, servers: RunningServers
) -> AsyncIterator[object]:
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
        with contextlib.suppress(NotFoundError):
            await js.delete_stream(name)
    await nc.drain()
    yield


class BackgroundPipeline:
    """The relay and the projection workers on their own event loop in a thread, as the
    separate processes they are in production (the test client blocks the test's loop)."""

    def __init__(
        self,
        settings: Settings,
        database_url: str,
        nats_url: str,
        groups: tuple[str, ...] = ("projections",),
    ) -> None:
        import asyncio
        import threading

        self._settings, self._database_url, self._nats_url = settings, database_url, nats_url
        self._groups = groups
        self._loop = asyncio.new_event_loop()
        self._stop: asyncio.Event | None = None
        self._ready = threading.Event()
        self.errors: list[BaseException] = []
        self._thread = threading.Thread(target=self._run, name="pipeline", daemon=True)
        self._thread.start()
        self._ready.wait(10)

    def _run(self) -> None:
        import asyncio

        from interfaces.workers import run_relay, run_worker

        async def main() -> None:
            self._stop = asyncio.Event()
            self._ready.set()
            results = await asyncio.gather(
                run_relay(self._settings, self._database_url, self._nats_url, self._stop),
                *(
                    run_worker(
                        group, self._settings, self._database_url, self._nats_url, self._stop
                    )
                    for group in self._groups
                ),
                return_exceptions=True,
            )
            self.errors += [r for r in results if isinstance(r, BaseException)]

        self._loop.run_until_complete(main())

    def stop(self) -> None:
        if self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(30)
        assert not self.errors, self.errors


@pytest.fixture
def pipeline(
    settings: Settings, database_url: str, servers: RunningServers, clean_streams: None
) -> Iterator[BackgroundPipeline]:
    """The relay and the projection workers running beside the test."""
    running = BackgroundPipeline(settings, database_url, servers.nats_url)
    yield running
    running.stop()


@pytest.fixture
def full_pipeline(
    settings: Settings, database_url: str, servers: RunningServers, clean_streams: None
) -> Iterator[BackgroundPipeline]:
    """Relay, projections and agents running beside the test."""
    running = BackgroundPipeline(
        settings, database_url, servers.nats_url, groups=("projections", "agents")
    )
    yield running
    running.stop()
