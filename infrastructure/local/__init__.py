"""Local mode: real PostgreSQL and NATS JetStream servers run from pip-installed wheels."""

from __future__ import annotations

from infrastructure.local.nats import LocalNats
from infrastructure.local.postgres import LocalPostgres

__all__ = ["LocalNats", "LocalPostgres"]
