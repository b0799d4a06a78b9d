"""Stored first responses for requests that carried an Idempotency-Key (asyncpg)."""

from __future__ import annotations

from dataclasses import dataclass

import asyncpg

SCHEMA_SQL = """
CREATE TABLE IF NOT EXISTS api_idempotency (
    principal    text        NOT NULL,
    key          text        NOT NULL,
    fingerprint  text        NOT NULL,
    status       integer     NOT NULL,
    body         bytea       NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (principal, key)
);
"""


@dataclass(frozen=True)
class StoredResponse:
    fingerprint: str
    status: int
    body: bytes


class IdempotencyStore:
    """Remembers the first response per (principal, key) so retries replay it."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def create_schema(self) -> None:
        async with self._pool.acquire() as conn:
            await conn.execute(SCHEMA_SQL)

    async def get(self, principal: str, key: str) -> StoredResponse | None:
        row = await self._pool.fetchrow(
            "SELECT fingerprint, status, body FROM api_idempotency "
            "WHERE principal = $1 AND key = $2",
            principal,
            key,
        )
        return (
            StoredResponse(row["fingerprint"], row["status"], bytes(row["body"])) if row else None
        )

    async def remember(self, principal: str, key: str, response: StoredResponse) -> StoredResponse:
        """Store ``response`` unless one is stored already; return the one that is kept."""
        row = await self._pool.fetchrow(
            "INSERT INTO api_idempotency (principal, key, fingerprint, status, body) "
            "VALUES ($1, $2, $3, $4, $5) ON CONFLICT (principal, key) DO NOTHING "
            "RETURNING fingerprint, status, body",
            principal,
            key,
            response.fingerprint,
            response.status,
            response.body,
        )
        if row is not None:
            return response
        stored = await self.get(principal, key)
        assert stored is not None
        return stored
