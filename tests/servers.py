"""Real PostgreSQL and NATS for the test session: started here, or found through
MODISTE_TEST_DATABASE_URL / MODISTE_TEST_NATS_URL."""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse, urlunparse

import psycopg

from infrastructure.local import LocalNats, LocalPostgres
from infrastructure.local.nats_auth import NatsAccess


@dataclass
class RunningServers:
    """URLs of the servers this session uses, and handles when it started them itself."""

    admin_database_url: str
    nats_url: str
    postgres: LocalPostgres | None = None
    nats: LocalNats | None = None
    databases: list[str] = field(default_factory=list)

    def create_database(self, prefix: str = "t") -> str:
        """A fresh, empty database on the test server; returns its URL."""
        name = f"{prefix}_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(self.admin_database_url, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        self.databases.append(name)
        parts = urlparse(self.admin_database_url)
        return urlunparse(parts._replace(path=f"/{name}"))

    def stop(self) -> None:
        if self.nats is not None:
            self.nats.stop()
        if self.postgres is not None:
            self.postgres.stop()


def start_test_servers(data_dir: Path) -> RunningServers:
    database_url = os.environ.get("MODISTE_TEST_DATABASE_URL")
    nats_url = os.environ.get("MODISTE_TEST_NATS_URL")
    postgres = nats = None
    if not database_url:
        postgres = LocalPostgres(data_dir / "postgres")
        database_url = postgres.start()
    if not nats_url:
        # Authorization on, as in local mode: the session connects as the internal user.
        access = NatsAccess.load_or_create(data_dir)
        nats = LocalNats(data_dir / "nats", config_text=access.config_text())
        nats_url = access.internal_url(nats.start())
    return RunningServers(database_url, nats_url, postgres, nats)
