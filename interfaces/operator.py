"""Operator tasks behind the CLI: read model status and rebuilds with a progress bar."""

from __future__ import annotations

import anyio.to_thread
import asyncpg
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from infrastructure.bootstrap import bootstrap
from infrastructure.eventstore.log import EventLog
from infrastructure.settings import Settings
from projections.rebuild import (
    ProjectionStatus,
    RebuildResult,
    projection_status,
    rebuild_projection,
)
from projections.registry import all_projectors
from projections.schema import create_bookkeeping


async def read_status(settings: Settings, database_url: str) -> list[ProjectionStatus]:
    container = await anyio.to_thread.run_sync(bootstrap, settings, database_url)
    pool = await asyncpg.create_pool(database_url, min_size=1, max_size=2)
    try:
        await create_bookkeeping(pool)
        return await projection_status(
            pool, EventLog(container.catalog), list(all_projectors().values())
        )
    finally:
        await pool.close()
        container.close()


class EventsPerSecondColumn(TextColumn):
    """Throughput of the rebuild so far."""

    def __init__(self) -> None:
        super().__init__("")

    def render(self, task):  # type: ignore[no-untyped-def]
        from rich.text import Text

        speed = task.finished_speed or task.speed
        return Text(f"{speed:,.0f} events/s" if speed else "… events/s", style="cyan")


async def rebuild_with_progress(
    settings: Settings, database_url: str, names: list[str]
) -> list[RebuildResult]:
    """Rebuild each named read model, showing events/s and ETA."""
    container = await anyio.to_thread.run_sync(bootstrap, settings, database_url)
    pool = await asyncpg.create_pool(database_url, min_size=1, max_size=2)
    projectors = all_projectors()
    results = []
    try:
        with Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            EventsPerSecondColumn(),
            TimeElapsedColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
        ) as progress:
            for name in names:
                task = progress.add_task(f"rebuild {name}", total=None)

                def report(done: int, total: int, task_id=task) -> None:  # type: ignore[no-untyped-def]
                    progress.update(task_id, completed=done, total=total)

                results.append(
                    await rebuild_projection(
                        pool,
                        EventLog(container.catalog),
                        projectors[name],
                        progress=report,
                        database_url=database_url,
                    )
                )
    finally:
        await pool.close()
        container.close()
    return results
