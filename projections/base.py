"""What a projector is: tables it owns, the contexts it follows, and how it applies an event."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import ClassVar

import asyncpg

from infrastructure.messaging.codec import EventEnvelope
from infrastructure.messaging.subjects import ALL_EVENTS
from projections.schema import READ_SCHEMA

SHADOW_SUFFIX = "__shadow"


class Tables(Mapping[str, str]):
    """Logical table name -> qualified name (live, or the shadow copy during a rebuild)."""

    def __init__(self, names: Sequence[str], *, shadow: bool = False) -> None:
        suffix = SHADOW_SUFFIX if shadow else ""
        self._qualified = {name: f"{READ_SCHEMA}.{name}{suffix}" for name in names}
        self.shadow = shadow

    def __getitem__(self, key: str) -> str:
        return self._qualified[key]

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(self._qualified)

    def __len__(self) -> int:
        return len(self._qualified)


class Projector:
    """Base class: subclasses set ``name``, ``contexts``, ``tables`` and implement ``apply``.

    ``tables`` maps a logical table name to DDL with ``{table}`` where the qualified name
    goes, run only when the table is missing; indexes are unnamed so a shadow copy never
    clashes with the live one.
    Every event of the followed contexts passes through the version check, even the types
    a projector ignores, so per-aggregate versions stay gapless; events of other contexts
    only move the position.
    """

    name: ClassVar[str]
    contexts: ClassVar[tuple[str, ...]]
    tables: ClassVar[dict[str, list[str]]]
    pipelined_rebuild: ClassVar[bool] = False
    """True when ``apply`` only calls ``conn.execute`` / ``executemany`` / ``fetch`` and never
    reads a command status, so a rebuild may send its statements through psycopg's pipeline
    mode (projections.pipelined); the row-for-row rebuild tests cover each one that opts in."""

    @property
    def subjects(self) -> list[str]:
        # Every event, not just our contexts': the position then tracks the whole log, so
        # "has this read model caught up with position P?" has an answer for any command.
        return [ALL_EVENTS]

    def follows(self, event: EventEnvelope) -> bool:
        return event.context in self.contexts

    def table_names(self, *, shadow: bool = False) -> Tables:
        return Tables(list(self.tables), shadow=shadow)

    def tracking_name(self, *, shadow: bool = False) -> str:
        return f"{self.name}{SHADOW_SUFFIX}" if shadow else self.name

    async def create_tables(self, conn: asyncpg.Connection, *, shadow: bool = False) -> None:
        names = self.table_names(shadow=shadow)
        for logical, statements in self.tables.items():
            if await conn.fetchval("SELECT to_regclass($1)", names[logical]) is not None:
                continue
            for statement in statements:
                await conn.execute(statement.format(table=names[logical]))

    async def apply(self, conn: asyncpg.Connection, event: EventEnvelope, t: Tables) -> None:
        """Apply one event to the tables named by ``t`` (inside the caller's transaction)."""
        raise NotImplementedError
