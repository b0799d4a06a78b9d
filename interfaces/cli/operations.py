"""Background processes and operator commands: `relay`, `worker`, `projections ...`."""

from __future__ import annotations

import asyncio
import signal
from typing import Annotated, NoReturn

import typer

from infrastructure.settings import Settings, get_settings

projections_app = typer.Typer(
    name="projections",
    help="Inspect and rebuild read models.",
    no_args_is_help=True,
)


def _fail(message: str, code: int = 2) -> NoReturn:
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
    raise typer.Exit(code)


def require_urls(settings: Settings, command: str, *, nats: bool = True) -> tuple[str, str]:
    """MODISTE_DATABASE_URL and (if needed) MODISTE_NATS_URL, or a clear error."""
    needed = [("MODISTE_DATABASE_URL", settings.database_url)]
    if nats:
        needed.append(("MODISTE_NATS_URL", settings.nats_url))
    missing = [name for name, value in needed if not value]
    if missing:
        _fail(
            f"`modiste {command}` needs {' and '.join(missing)} "
            "(or run `modiste up`, which sets them for its children)"
        )
    return settings.database_url or "", settings.nats_url or ""


def run_until_signalled(main: object) -> None:
    """Run an ``async (stop: asyncio.Event)`` entry point; SIGINT/SIGTERM set ``stop``."""

    async def runner() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await main(stop)  # type: ignore[operator]

    asyncio.run(runner())


def relay() -> None:
    """Publish every recorded event to JetStream (run one per deployment)."""
    from interfaces.workers import run_relay

    settings = get_settings()
    database_url, nats_url = require_urls(settings, "relay")
    run_until_signalled(lambda stop: run_relay(settings, database_url, nats_url, stop))


def worker(
    group: Annotated[str, typer.Option(help="projections or agents")],
    only: Annotated[
        list[str] | None, typer.Option(help="Run only these consumers (repeatable)")
    ] = None,
) -> None:
    """Run a group's durable consumers; replicas share each consumer."""
    from interfaces.workers import GROUPS, run_worker

    if group not in GROUPS:
        _fail(f"--group must be one of {', '.join(GROUPS)}")
    settings = get_settings()
    database_url, nats_url = require_urls(settings, "worker")
    run_until_signalled(
        lambda stop: run_worker(group, settings, database_url, nats_url, stop, only=only or ())
    )


@projections_app.command("status")
def status() -> None:
    """Position, event-store head, lag, last error and dead letters per read model."""
    settings = get_settings()
    database_url, _ = require_urls(settings, "projections status", nats=False)
    from rich.console import Console
    from rich.table import Table

    from interfaces.operator import read_status

    rows = asyncio.run(read_status(settings, database_url))
    table = Table(title="Read models")
    for column in (
        "name",
        "position",
        "head",
        "lag (events)",
        "lag (s)",
        "applied",
        "dead letters",
        "last error",
        "rebuilt at",
    ):
        table.add_column(column)
    for row in rows:
        table.add_row(
            row.name,
            str(row.position),
            str(row.head),
            str(row.lag_events),
            f"{row.lag_seconds:.1f}",
            str(row.events_applied),
            str(row.dead_letters),
            row.last_error or "",
            row.rebuilt_at.isoformat(timespec="seconds") if row.rebuilt_at else "",
        )
    Console().print(table)


@projections_app.command("rebuild")
def rebuild(
    name: Annotated[str | None, typer.Argument(help="Read model to rebuild")] = None,
    all_: Annotated[bool, typer.Option("--all", help="Rebuild every read model")] = False,
) -> None:
    """Rebuild read models from the event store into shadow tables, then swap them in."""
    from projections.registry import all_projectors

    projectors = all_projectors()
    if all_ == (name is not None):
        _fail("give one read model NAME or --all")
    if name is not None and name not in projectors:
        _fail(f"unknown read model {name!r}; known: {', '.join(projectors)}")
    names = list(projectors) if all_ else [name or ""]
    settings = get_settings()
    database_url, _ = require_urls(settings, "projections rebuild", nats=False)

    from interfaces.operator import rebuild_with_progress

    for result in asyncio.run(rebuild_with_progress(settings, database_url, names)):
        typer.echo(
            f"{result.projector}: {result.events} events in {result.seconds:.1f}s "
            f"({result.events_per_second:,.0f} events/s), now at position "
            f"{result.position}"
        )
