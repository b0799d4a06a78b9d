"""The design gallery read model: one row per design with its status, image, scores and
provenance; and the gallery query (newest first, keyset pagination)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from infrastructure.messaging.codec import EventEnvelope
from projections.base import Projector, Tables
from projections.queries import Page, decode_cursor, encode_cursor

PUBLIC_STATUSES = ("published",)


class DesignsProjector(Projector):
    name = "designs"
    contexts = ("designs",)
    tables = {
        "designs": [
            """CREATE TABLE {table} (
                design_id          uuid PRIMARY KEY,
                status             text NOT NULL,
                prompt             text NOT NULL,
                negative_prompt    text NOT NULL DEFAULT '',
                enhanced_prompt    text,
                style              jsonb NOT NULL DEFAULT '{{}}',
                seed               bigint NOT NULL,
                steps              integer NOT NULL,
                guidance           double precision NOT NULL,
                width              integer,
                height             integer,
                requested_by       text NOT NULL,
                image_sha256       text,
                model_id           text,
                model_hash         text,
                generation_seconds double precision,
                embedding_model_id text,
                novelty            double precision,
                prompt_alignment   double precision,
                quality_flags      text[] NOT NULL DEFAULT '{{}}',
                failure_reason     text,
                attempts           integer NOT NULL DEFAULT 0,
                requested_at       timestamptz NOT NULL,
                published_at       timestamptz,
                updated_at         timestamptz NOT NULL,
                version            integer NOT NULL,
                position           bigint NOT NULL
            )""",
            "CREATE INDEX ON {table} (requested_at DESC, design_id)",
            "CREATE INDEX ON {table} (status, requested_at DESC)",
            "CREATE INDEX ON {table} (requested_by, requested_at DESC)",
        ],
    }

    async def apply(self, conn: asyncpg.Connection, event: EventEnvelope, t: Tables) -> None:
        if event.type == "DesignRequested":
            await self._requested(conn, event, t)
            return
        change = _CHANGES.get(event.type)
        if change is None:
            return
        assignments, values = change(event.data)
        await conn.execute(
            f"UPDATE {t['designs']} SET {assignments}, updated_at = $2, version = $3, "
            "position = $4 WHERE design_id = $1",
            event.aggregate_id,
            event.occurred_at,
            event.aggregate_version,
            event.position,
            *values,
        )

    async def _requested(self, conn: asyncpg.Connection, e: EventEnvelope, t: Tables) -> None:
        d = e.data
        style = {key: d.get(key) for key in ("garment", "fabric", "silhouette")}
        style["palette"] = list(d.get("palette") or [])
        await conn.execute(
            f"INSERT INTO {t['designs']} (design_id, status, prompt, negative_prompt, style, "
            "seed, steps, guidance, width, height, requested_by, requested_at, updated_at, "
            "version, position) VALUES ($1, 'requested', $2, $3, $4::jsonb, $5, $6, $7, $8, "
            "$9, $10, $11, $11, $12, $13)",
            e.aggregate_id,
            d["prompt"],
            d.get("negative_prompt", ""),
            json.dumps(style),
            d["seed"],
            d["steps"],
            d["guidance"],
            d.get("width"),
            d.get("height"),
            d["requested_by"],
            e.occurred_at,
            e.aggregate_version,
            e.position,
        )


def _moderation_failed(d: dict[str, Any]) -> tuple[str, list[Any]]:
    return "status = 'rejected', failure_reason = $5", [d["reason"]]


def _enhanced(d: dict[str, Any]) -> tuple[str, list[Any]]:
    return "status = 'enhanced', enhanced_prompt = $5", [d["enhanced_prompt"]]


def _generated(d: dict[str, Any]) -> tuple[str, list[Any]]:
    return (
        "status = 'generated', image_sha256 = $5, model_id = $6, model_hash = $7, "
        "generation_seconds = $8, width = $9, height = $10",
        [
            d["image_sha256"],
            d["model_id"],
            d["model_hash"],
            d["duration_seconds"],
            d["width"],
            d["height"],
        ],
    )


def _generation_failed(d: dict[str, Any]) -> tuple[str, list[Any]]:
    return "status = 'failed', failure_reason = $5, attempts = $6", [d["reason"], d["attempt"]]


def _embedded(d: dict[str, Any]) -> tuple[str, list[Any]]:
    return "status = 'embedded', embedding_model_id = $5", [d["model_id"]]


def _evaluated(d: dict[str, Any]) -> tuple[str, list[Any]]:
    return (
        "status = 'evaluated', novelty = $5, prompt_alignment = $6, quality_flags = $7",
        [d["novelty"], d["prompt_alignment"], list(d.get("quality_flags") or [])],
    )


def _published(d: dict[str, Any]) -> tuple[str, list[Any]]:
    return "status = 'published', published_at = updated_at", []


def _archived(d: dict[str, Any]) -> tuple[str, list[Any]]:
    return "status = 'archived'", []


_CHANGES = {
    "DesignModerationFailed": _moderation_failed,
    "DesignPromptEnhanced": _enhanced,
    "DesignGenerated": _generated,
    "DesignGenerationFailed": _generation_failed,
    "DesignEmbedded": _embedded,
    "DesignEvaluated": _evaluated,
    "DesignPublished": _published,
    "DesignArchived": _archived,
}


@dataclass(frozen=True)
class DesignFilter:
    status: str | None = None
    requested_by: str | None = None
    public_only: bool = False


async def list_designs(
    pool: asyncpg.Pool, filters: DesignFilter, limit: int, cursor: str | None
) -> Page:
    """Gallery page, newest first."""
    where: list[str] = []
    args: list[Any] = []

    def arg(value: Any) -> str:
        args.append(value)
        return f"${len(args)}"

    if filters.public_only:
        where.append(f"status = ANY({arg(list(PUBLIC_STATUSES))}::text[])")
    if filters.status:
        where.append(f"status = {arg(filters.status)}")
    if filters.requested_by:
        where.append(f"requested_by = {arg(filters.requested_by)}")
    if cursor:
        key, ident = decode_cursor(cursor, "newest")
        where.append(
            f"(requested_at, design_id) < ({arg(datetime.fromisoformat(key))}, {arg(ident)}::uuid)"
        )
    sql = (
        "SELECT design_id, status, prompt, enhanced_prompt, style, seed, steps, guidance, "
        "width, height, requested_by, image_sha256, model_id, model_hash, novelty, "
        "prompt_alignment, quality_flags, failure_reason, requested_at, published_at, version "
        "FROM read.designs"
        + (f" WHERE {' AND '.join(where)}" if where else "")
        + f" ORDER BY requested_at DESC, design_id DESC LIMIT {arg(limit + 1)}"
    )
    rows = [dict(row) for row in await pool.fetch(sql, *args)]
    next_cursor = None
    if len(rows) > limit:
        rows = rows[:limit]
        next_cursor = encode_cursor("newest", rows[-1]["requested_at"], rows[-1]["design_id"])
    for row in rows:
        row["style"] = json.loads(row["style"]) if isinstance(row["style"], str) else row["style"]
    return Page(rows, next_cursor)
