"""Ateliers read models: the atelier directory and the match board.

The directory holds what the matcher ranks (capabilities, never contact details: those stay
sealed in the event store). The match board holds one row per match with its candidates,
each atelier's latest quote and the accepted one; accepted matches of the last 30 days
count against an atelier's monthly capacity.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import asyncpg

from domain.ateliers.matching import AtelierProfile
from domain.ateliers.values import Capabilities, GeoPoint, Location, PriceBand
from infrastructure.messaging.codec import EventEnvelope
from projections.base import Projector, Tables
from projections.queries import Page, decode_cursor, encode_cursor
from projections.schema import READ_SCHEMA

DIRECTORY = f"{READ_SCHEMA}.atelier_directory"
MATCHES = f"{READ_SCHEMA}.atelier_matches"
CAPACITY_WINDOW = "30 days"


class AteliersProjector(Projector):
    name = "ateliers"
    contexts = ("ateliers",)
    tables = {
        "atelier_directory": [
            """CREATE TABLE {table} (
                atelier_id          uuid PRIMARY KEY,
                name                text NOT NULL,
                partner_id          text NOT NULL,
                categories          text[] NOT NULL,
                max_complexity      smallint NOT NULL,
                latitude            double precision NOT NULL,
                longitude           double precision NOT NULL,
                city                text NOT NULL,
                price_min           bigint NOT NULL,
                price_max           bigint NOT NULL,
                currency            char(3) NOT NULL,
                capacity_per_month  integer NOT NULL,
                registered_at       timestamptz NOT NULL,
                updated_at          timestamptz NOT NULL,
                version             integer NOT NULL,
                position            bigint NOT NULL
            )""",
            "CREATE INDEX ON {table} USING gin (categories)",
            "CREATE INDEX ON {table} (registered_at DESC, atelier_id)",
            "CREATE INDEX ON {table} (city)",
        ],
        "atelier_matches": [
            """CREATE TABLE {table} (
                match_id             uuid PRIMARY KEY,
                design_id            text NOT NULL,
                requested_by         text NOT NULL,
                category             text NOT NULL,
                complexity           smallint NOT NULL,
                budget               bigint NOT NULL,
                currency             char(3) NOT NULL,
                status               text NOT NULL,
                candidate_ids        text[] NOT NULL,
                candidates           jsonb NOT NULL,
                quotes               jsonb NOT NULL DEFAULT '{{}}'::jsonb,
                accepted_quote_id    text,
                accepted_atelier_id  text,
                price                bigint,
                lead_time_days       integer,
                requested_at         timestamptz NOT NULL,
                accepted_at          timestamptz,
                updated_at           timestamptz NOT NULL,
                version              integer NOT NULL,
                position             bigint NOT NULL
            )""",
            "CREATE INDEX ON {table} USING gin (candidate_ids)",
            "CREATE INDEX ON {table} (accepted_atelier_id, accepted_at)",
            "CREATE INDEX ON {table} (requested_by, requested_at DESC)",
            "CREATE INDEX ON {table} (design_id)",
        ],
    }

    async def apply(self, conn: asyncpg.Connection, event: EventEnvelope, t: Tables) -> None:
        handler = getattr(self, f"_on_{event.type}", None)
        if handler is not None:
            await handler(conn, event, event.data, t)

    async def _on_AtelierRegistered(
        self, conn: asyncpg.Connection, e: EventEnvelope, d: dict[str, Any], t: Tables
    ) -> None:
        await conn.execute(
            f"INSERT INTO {t['atelier_directory']} (atelier_id, name, partner_id, categories, "
            "max_complexity, latitude, longitude, city, price_min, price_max, currency, "
            "capacity_per_month, registered_at, updated_at, version, position) VALUES "
            "($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $13, $14, $15)",
            e.aggregate_id,
            d["name"],
            d["partner_id"],
            d["categories"],
            d["max_complexity"],
            d["latitude"],
            d["longitude"],
            d["city"],
            d["price_min"],
            d["price_max"],
            d["currency"],
            d["capacity_per_month"],
            e.occurred_at,
            e.aggregate_version,
            e.position,
        )

    async def _on_CapabilitiesUpdated(
        self, conn: asyncpg.Connection, e: EventEnvelope, d: dict[str, Any], t: Tables
    ) -> None:
        await conn.execute(
            f"UPDATE {t['atelier_directory']} SET categories = $2, max_complexity = $3, "
            "latitude = $4, longitude = $5, city = $6, price_min = $7, price_max = $8, "
            "currency = $9, capacity_per_month = $10, updated_at = $11, version = $12, "
            "position = $13 WHERE atelier_id = $1",
            e.aggregate_id,
            d["categories"],
            d["max_complexity"],
            d["latitude"],
            d["longitude"],
            d["city"],
            d["price_min"],
            d["price_max"],
            d["currency"],
            d["capacity_per_month"],
            e.occurred_at,
            e.aggregate_version,
            e.position,
        )

    async def _on_MatchRequested(
        self, conn: asyncpg.Connection, e: EventEnvelope, d: dict[str, Any], t: Tables
    ) -> None:
        await conn.execute(
            f"INSERT INTO {t['atelier_matches']} (match_id, design_id, requested_by, category, "
            "complexity, budget, currency, status, candidate_ids, candidates, requested_at, "
            "updated_at, version, position) VALUES "
            "($1, $2, $3, $4, $5, $6, $7, 'requested', $8, $9::jsonb, $10, $10, $11, $12)",
            e.aggregate_id,
            d["design_id"],
            d["requested_by"],
            d["category"],
            d["complexity"],
            d["budget"],
            d["currency"],
            [c["atelier_id"] for c in d["candidates"]],
            json.dumps(d["candidates"]),
            e.occurred_at,
            e.aggregate_version,
            e.position,
        )

    async def _on_QuoteSubmitted(
        self, conn: asyncpg.Connection, e: EventEnvelope, d: dict[str, Any], t: Tables
    ) -> None:
        quote = {
            "quote_id": d["quote_id"],
            "price": d["price"],
            "currency": d["currency"],
            "lead_time_days": d["lead_time_days"],
            "submitted_at": e.occurred_at.isoformat(),
        }
        await conn.execute(
            f"UPDATE {t['atelier_matches']} SET status = 'quoted', "
            "quotes = jsonb_set(quotes, ARRAY[$2::text], $3::jsonb), "
            "updated_at = $4, version = $5, position = $6 WHERE match_id = $1",
            e.aggregate_id,
            d["atelier_id"],
            json.dumps(quote),
            e.occurred_at,
            e.aggregate_version,
            e.position,
        )

    async def _on_MatchAccepted(
        self, conn: asyncpg.Connection, e: EventEnvelope, d: dict[str, Any], t: Tables
    ) -> None:
        await conn.execute(
            f"UPDATE {t['atelier_matches']} SET status = 'accepted', accepted_quote_id = $2, "
            "accepted_atelier_id = $3, price = $4, lead_time_days = $5, accepted_at = $6, "
            "updated_at = $6, version = $7, position = $8 WHERE match_id = $1",
            e.aggregate_id,
            d["quote_id"],
            d["atelier_id"],
            d["price"],
            d["lead_time_days"],
            e.occurred_at,
            e.aggregate_version,
            e.position,
        )


# -- queries --------------------------------------------------------------------------------


def _profile(row: asyncpg.Record) -> AtelierProfile:
    return AtelierProfile(
        atelier_id=str(row["atelier_id"]),
        capabilities=Capabilities(
            categories=tuple(row["categories"]),
            max_complexity=row["max_complexity"],
            location=Location(GeoPoint(row["latitude"], row["longitude"]), row["city"]),
            price_band=PriceBand(row["price_min"], row["price_max"], row["currency"].strip()),
            capacity_per_month=row["capacity_per_month"],
        ),
        booked_this_month=int(row["booked"]),
    )


async def atelier_candidates(pool: asyncpg.Pool, category: str) -> list[AtelierProfile]:
    """Every atelier that lists ``category``, with its accepted matches of the last 30 days.

    Empty before the read model exists (no projection worker has run yet).
    """
    try:
        rows = await pool.fetch(
            f"SELECT d.*, COALESCE(b.booked, 0) AS booked FROM {DIRECTORY} d "
            "LEFT JOIN (SELECT accepted_atelier_id, count(*) AS booked "
            f"FROM {MATCHES} WHERE status = 'accepted' "
            f"AND accepted_at > now() - interval '{CAPACITY_WINDOW}' "
            "GROUP BY accepted_atelier_id) b ON b.accepted_atelier_id = d.atelier_id::text "
            "WHERE $1 = ANY(d.categories)",
            category,
        )
    except asyncpg.UndefinedTableError:
        return []
    return [_profile(row) for row in rows]


async def list_ateliers(
    pool: asyncpg.Pool,
    category: str | None,
    city: str | None,
    limit: int,
    cursor: str | None,
) -> Page:
    """The directory, newest registrations first, filtered by category and city."""
    where: list[str] = []
    args: list[Any] = []

    def arg(value: Any) -> str:
        args.append(value)
        return f"${len(args)}"

    if category:
        where.append(f"{arg(category.strip().lower())} = ANY(categories)")
    if city:
        where.append(f"lower(city) = lower({arg(city.strip())})")
    if cursor:
        key, ident = decode_cursor(cursor, "newest")
        since, after = arg(datetime.fromisoformat(key)), arg(ident)
        where.append(f"(registered_at, atelier_id) < ({since}, {after}::uuid)")
    sql = (
        "SELECT atelier_id, name, partner_id, categories, max_complexity, latitude, longitude, "
        "city, price_min, price_max, currency, capacity_per_month, registered_at, version "
        f"FROM {DIRECTORY}"
        + (f" WHERE {' AND '.join(where)}" if where else "")
        + f" ORDER BY registered_at DESC, atelier_id DESC LIMIT {arg(limit + 1)}"
    )
    try:
        rows = [dict(row) for row in await pool.fetch(sql, *args)]
    except asyncpg.UndefinedTableError:
        rows = []
    next_cursor = None
    if len(rows) > limit:
        rows = rows[:limit]
        next_cursor = encode_cursor("newest", rows[-1]["registered_at"], rows[-1]["atelier_id"])
    return Page(rows, next_cursor)
