"""The read side's own bookkeeping tables (schema ``read``)."""

from __future__ import annotations

import asyncpg

READ_SCHEMA = "read"

BOOKKEEPING_SQL = f"""
CREATE SCHEMA IF NOT EXISTS {READ_SCHEMA};
CREATE TABLE IF NOT EXISTS {READ_SCHEMA}.projection_positions (
    name            text PRIMARY KEY,
    position        bigint NOT NULL DEFAULT 0,
    events_applied  bigint NOT NULL DEFAULT 0,
    updated_at      timestamptz NOT NULL DEFAULT now(),
    last_error      text,
    last_error_at   timestamptz,
    rebuilt_at      timestamptz
);
CREATE TABLE IF NOT EXISTS {READ_SCHEMA}.projection_versions (
    projection    text   NOT NULL,
    aggregate_id  text   NOT NULL,
    version       integer NOT NULL,
    PRIMARY KEY (projection, aggregate_id)
);
CREATE TABLE IF NOT EXISTS {READ_SCHEMA}.dead_letters (
    id           bigserial PRIMARY KEY,
    consumer     text NOT NULL,
    position     bigint,
    event_type   text,
    aggregate_id text,
    error        text NOT NULL,
    payload      bytea NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS dead_letters_consumer_idx ON {READ_SCHEMA}.dead_letters (consumer);
"""


async def create_bookkeeping(pool: asyncpg.Pool) -> None:
    async with pool.acquire() as conn, conn.transaction():
        # Serialise concurrent first starts (several workers creating the schema at once).
        await conn.execute("SELECT pg_advisory_xact_lock(hashtext('modiste-read-schema'))")
        await conn.execute(BOOKKEEPING_SQL)
