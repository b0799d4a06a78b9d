"""`modiste search ...`: the API's vector indexes (a projection of the embedding events)."""

from __future__ import annotations

import json
from typing import NoReturn

import typer

from infrastructure.settings import get_settings

search_app = typer.Typer(
    name="search",
    help="Inspect and rebuild the vector indexes behind product and design search.",
    no_args_is_help=True,
)


def _fail(message: str, code: int = 2) -> NoReturn:
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
    raise typer.Exit(code)


@search_app.command("reindex")
def reindex() -> None:
    """Rebuild the vector indexes from the embeddings recorded in events (no model runs).

    Writes <data_dir>/indexes/api, which API processes load when they start. A running API
    keeps following the event store with its own copy and overwrites the files when it
    saves; both are built from the same events, so either is correct.
    """
    settings = get_settings()
    if not settings.database_url:
        _fail("`modiste search reindex` needs MODISTE_DATABASE_URL (or run it under `modiste up`)")
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    from infrastructure.bootstrap import bootstrap
    from infrastructure.search.follower import VectorIndexFollower
    from interfaces.http.vectors import api_index_dir

    container = bootstrap(settings, settings.database_url)
    try:
        follower = VectorIndexFollower(container.catalog, api_index_dir(settings))
        with Progress(
            SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn()
        ) as progress:
            task = progress.add_task("reading embedding events", total=None)
            stats = follower.rebuild(
                lambda n: progress.update(task, description=f"{n:,} embedding events read")
            )
    finally:
        container.close()
    typer.echo(
        f"rebuilt {api_index_dir(settings)} from {stats.events} events in {stats.seconds:.1f}s, "
        f"position {stats.position}"
    )
    for info in stats.indexes:
        typer.echo(f"  {info.collection:<9} {info.model_id:<40} {info.count:>8} vectors")


@search_app.command("status")
def status() -> None:
    """Position and size of the saved vector indexes."""
    from interfaces.http.vectors import api_index_dir

    directory = api_index_dir(get_settings())
    state_file = directory / "state.json"
    if not state_file.is_file():
        typer.echo(f"no saved indexes in {directory} (the API builds them on start)")
        return
    state = json.loads(state_file.read_text())
    typer.echo(f"{directory}: position {state['position']}")
    for entry in state.get("indexes", []):
        typer.echo(
            f"  {entry['collection']:<9} {entry['model_id']:<40} {entry['count']:>8} vectors"
        )
