"""The asyncpg calls a projector makes, over psycopg's pipeline mode, for rebuilds.

A projector applies an event with a few ``conn.execute`` calls; on asyncpg each one waits
for its reply, so a rebuild of hundreds of thousands of events spends most of its time in
round trips. psycopg's pipeline mode sends the statements of a whole batch without waiting
and collects the replies once, in order, in the same transaction: the same SQL, the same
order, the same rows.

Only what projectors use is offered: ``execute`` (which returns no status: a projector
must not branch on "UPDATE 0"), ``executemany`` and ``fetch`` (which waits for everything
queued before it). ``$n`` placeholders become psycopg's named ones; psycopg sends strings
as untyped literals, so PostgreSQL infers their types as it does for asyncpg's.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Any

import psycopg
from psycopg.rows import DictRow, dict_row

_PLACEHOLDER = re.compile(r"\$(\d+)")


def psycopg_query(query: str) -> str:
    """``$1`` -> ``%(p1)s`` (and a literal ``%`` -> ``%%``)."""
    return _PLACEHOLDER.sub(lambda m: f"%(p{m.group(1)})s", query.replace("%", "%%"))


def _params(args: Sequence[Any]) -> dict[str, Any]:
    return {f"p{i}": value for i, value in enumerate(args, 1)}


class PipelinedConnection:
    """Stands in for an ``asyncpg.Connection`` inside ``conn.pipeline()``."""

    def __init__(self, conn: psycopg.AsyncConnection[Any]) -> None:
        self._conn = conn
        self._cursor = conn.cursor()
        self._queries: dict[str, str] = {}

    def _query(self, query: str) -> str:
        converted = self._queries.get(query)
        if converted is None:
            converted = self._queries[query] = psycopg_query(query)
        return converted

    async def execute(self, query: str, *args: Any) -> str:
        await self._cursor.execute(self._query(query), _params(args), prepare=True)
        return ""

    async def executemany(self, query: str, args: Iterable[Sequence[Any]]) -> None:
        await self._cursor.executemany(self._query(query), [_params(a) for a in args])

    async def fetch(self, query: str, *args: Any) -> list[DictRow]:
        cursor = self._conn.cursor(row_factory=dict_row)
        await cursor.execute(self._query(query), _params(args))
        return await cursor.fetchall()
