"""The ops view: every alert with its current state, and the history of its transitions."""

from __future__ import annotations

from typing import Any

import asyncpg

from infrastructure.messaging.codec import EventEnvelope
from projections.base import Projector, Tables
from projections.schema import READ_SCHEMA


class OpsProjector(Projector):
    name = "ops"
    contexts = ("ops",)
    tables = {
        "ops_alerts": [
            """CREATE TABLE {table} (
                alert_id      uuid PRIMARY KEY,
                kind          text NOT NULL,
                subject       text NOT NULL,
                active        boolean NOT NULL DEFAULT false,
                severity      text NOT NULL DEFAULT 'info',
                detail        text NOT NULL DEFAULT '',
                value         double precision,
                times_raised  integer NOT NULL DEFAULT 0,
                raised_at     timestamptz,
                resolved_at   timestamptz,
                updated_at    timestamptz NOT NULL,
                version       integer NOT NULL,
                position      bigint NOT NULL
            )""",
            "CREATE INDEX ON {table} (active, kind)",
        ],
        "ops_alert_history": [
            """CREATE TABLE {table} (
                position     bigint PRIMARY KEY,
                alert_id     uuid NOT NULL,
                change       text NOT NULL,
                severity     text NOT NULL,
                detail       text NOT NULL,
                value        double precision,
                occurred_at  timestamptz NOT NULL,
                actor        text NOT NULL
            )""",
            "CREATE INDEX ON {table} (alert_id, position)",
        ],
    }

    async def apply(self, conn: asyncpg.Connection, event: EventEnvelope, t: Tables) -> None:
        d = event.data
        alerts = t["ops_alerts"]
        if event.type == "OpsAlertOpened":
            await conn.execute(
                f"INSERT INTO {alerts} (alert_id, kind, subject, updated_at, version, position) "
                "VALUES ($1, $2, $3, $4, $5, $6)",
                event.aggregate_id,
                d["kind"],
                d["subject"],
                event.occurred_at,
                event.aggregate_version,
                event.position,
            )
            return
        if event.type == "OpsAlertRaised":
            await conn.execute(
                f"UPDATE {alerts} SET raised_at = CASE WHEN active THEN raised_at ELSE $2 END, "
                "active = true, severity = $5, detail = $6, value = $7, "
                "times_raised = times_raised + 1, updated_at = $2, version = $3, position = $4 "
                "WHERE alert_id = $1",
                event.aggregate_id,
                event.occurred_at,
                event.aggregate_version,
                event.position,
                d["severity"],
                d["detail"],
                d.get("value"),
            )
            await self._history(conn, event, t, "raised", d["severity"], d.get("value"))
        elif event.type == "OpsAlertResolved":
            await conn.execute(
                f"UPDATE {alerts} SET active = false, severity = 'info', detail = $5, "
                "resolved_at = $2, updated_at = $2, version = $3, position = $4 "
                "WHERE alert_id = $1",
                event.aggregate_id,
                event.occurred_at,
                event.aggregate_version,
                event.position,
                d["detail"],
            )
            await self._history(conn, event, t, "resolved", "info", None)

    async def _history(
        self,
        conn: asyncpg.Connection,
        e: EventEnvelope,
        t: Tables,
        change: str,
        severity: str,
        value: float | None,
    ) -> None:
        await conn.execute(
            f"INSERT INTO {t['ops_alert_history']} (position, alert_id, change, severity, detail, "
            "value, occurred_at, actor) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) "
            "ON CONFLICT (position) DO NOTHING",
            e.position,
            e.aggregate_id,
            change,
            severity,
            e.data.get("detail", ""),
            value,
            e.occurred_at,
            e.actor,
        )


ALERT_COLUMNS = (
    "alert_id, kind, subject, active, severity, detail, value, times_raised, raised_at, "
    "resolved_at, updated_at"
)


async def list_alerts(
    pool: asyncpg.Pool, *, active_only: bool = True, limit: int = 200
) -> list[dict[str, Any]]:
    """Alerts (active ones by default), most recently changed first. [] before the first run."""
    try:
        rows = await pool.fetch(
            f"SELECT {ALERT_COLUMNS} FROM {READ_SCHEMA}.ops_alerts"
            + (" WHERE active" if active_only else "")
            + " ORDER BY updated_at DESC, alert_id LIMIT $1",
            limit,
        )
    except asyncpg.UndefinedTableError:
        return []
    return [dict(row) for row in rows]
