"""Local mode servers: real PostgreSQL and NATS JetStream from wheels, restarts and crashes."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import tempfile
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import nats
import psycopg
import pytest
from nats.js.api import StreamConfig

from infrastructure.local import LocalNats, LocalPostgres

# -- PostgreSQL ----------------------------------------------------------------------------


@pytest.fixture
def pg_dir() -> Iterator[Path]:
    """A data dir outside ``tmp_path`` on purpose.

    As root the server runs as an unprivileged user that must traverse every parent
    directory, and each new pytest session (of anyone, concurrently) chmods
    ``/tmp/pytest-of-root`` back to 0700, which would pull the rug from under initdb.
    """
    base = Path(tempfile.mkdtemp(prefix="modiste-local-test-"))
    yield base / "pg"
    LocalPostgres(base / "pg").kill()  # never leave a server behind, whatever the test did
    shutil.rmtree(base, ignore_errors=True)


def _count_rows(url: str) -> int:
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT count(*) FROM events").fetchone()
        assert row is not None
        return int(row[0])


def test_postgres_starts_and_accepts_connections(pg_dir: Path) -> None:
    pg = LocalPostgres(pg_dir)
    url = pg.start()

    assert url == pg.url == f"postgresql://postgres@127.0.0.1:{pg.port}/modiste"
    assert pg.is_running()
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT current_database(), current_setting('server_version_num')")
        database, version = row.fetchone() or ("", "0")
        assert database == "modiste"
        assert int(version) >= 180000
        fsync = conn.execute("SHOW fsync").fetchone()
        assert fsync == ("on",)
    assert (pg_dir / "postgres.log").stat().st_size > 0

    pg.stop()
    assert not pg.is_running()


def test_postgres_data_survives_stop_and_start(pg_dir: Path) -> None:
    pg = LocalPostgres(pg_dir)
    url = pg.start()
    with psycopg.connect(url) as conn:
        conn.execute("CREATE TABLE events (id bigserial PRIMARY KEY, body text)")
        conn.execute("INSERT INTO events (body) VALUES ('created')")
    pg.stop()
    # A stale lock file whose pid was recycled by a live, unrelated process (ours).
    (pg_dir / "pgdata" / "postmaster.pid").write_text(f"{os.getpid()}\n{pg_dir / 'pgdata'}\n")

    again = LocalPostgres(pg_dir)  # a new manager remembers the port from the data dir
    assert again.start() == url
    assert _count_rows(url) == 1
    again.stop()


def test_postgres_committed_data_survives_kill(pg_dir: Path) -> None:
    pg = LocalPostgres(pg_dir)
    url = pg.start()
    with psycopg.connect(url) as conn:
        conn.execute("CREATE TABLE events (id bigserial PRIMARY KEY, body text)")
        conn.execute("INSERT INTO events (body) VALUES ('committed')")
    pid = pg.pid

    pg.kill()
    assert not pg.is_running()
    assert (pg_dir / "pgdata" / "postmaster.pid").exists()  # stale, left by SIGKILL

    assert pg.start() == url
    assert pg.pid != pid
    assert _count_rows(url) == 1
    assert "automatic recovery in progress" in (pg_dir / "postgres.log").read_text()
    pg.stop()


def test_postgres_second_manager_adopts_live_server(pg_dir: Path) -> None:
    first = LocalPostgres(pg_dir)
    url = first.start()
    second = LocalPostgres(pg_dir)

    assert second.start() == url
    assert second.pid == first.pid
    second.stop()
    assert not first.is_running()


# -- NATS JetStream ------------------------------------------------------------------------


@pytest.fixture
def nats_dir(tmp_path: Path) -> Iterator[Path]:
    data_dir = tmp_path / "nats"
    yield data_dir
    LocalNats(data_dir).kill()


def _publish(url: str, *, create: bool, **options: str) -> tuple[int, int]:
    """Publish one message to stream EVENTS; return (ack sequence, messages in stream)."""
    return asyncio.run(asyncio.wait_for(_publish_async(url, create, options), timeout=10))


async def _publish_async(url: str, create: bool, options: dict[str, str]) -> tuple[int, int]:
    nc = await nats.connect(url, connect_timeout=2, allow_reconnect=False, **options)
    try:
        js = nc.jetstream()
        if create:
            await js.add_stream(StreamConfig(name="EVENTS", subjects=["events.>"]))
        ack = await js.publish("events.order", b"placed", timeout=2)
        info = await js.stream_info("EVENTS")
        return ack.seq, info.state.messages
    finally:
        await nc.close()


def test_nats_jetstream_survives_kill(nats_dir: Path) -> None:
    server = LocalNats(nats_dir)
    url = server.start()
    assert url == f"nats://127.0.0.1:{server.port}"
    with urllib.request.urlopen(f"{server.monitor_url}/healthz?js-enabled-only=true") as resp:
        assert json.loads(resp.read()) == {"status": "ok"}
    assert _publish(url, create=True) == (1, 1)

    server.kill()
    assert not server.is_running()

    again = LocalNats(nats_dir)
    assert again.start() == url
    assert _publish(url, create=False) == (2, 2)
    again.stop()
    assert not again.is_running()
    assert (nats_dir / "nats.log").stat().st_size > 0


ACCOUNTS = """
accounts {
  APP { jetstream: enabled, users: [{user: app, password: app-secret}] }
  SYS { users: [{user: sys, password: sys-secret}] }
}
system_account: SYS
"""


def test_nats_config_accounts_and_users(nats_dir: Path) -> None:
    server = LocalNats(nats_dir, config_text=ACCOUNTS)
    url = server.start()
    assert (nats_dir / "nats.conf").read_text() == ACCOUNTS

    assert _publish(url, create=True, user="app", password="app-secret") == (1, 1)
    with pytest.raises(nats.errors.Error, match="Authorization Violation"):
        _publish(url, create=False)  # anonymous clients are refused

    # A manager with a different config restarts the live server instead of adopting it.
    pid = server.pid
    open_server = LocalNats(nats_dir)
    assert open_server.start() == url
    assert open_server.pid != pid
    assert not (nats_dir / "nats.conf").exists()
    open_server.stop()
