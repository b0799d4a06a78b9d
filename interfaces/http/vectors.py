"""The API's own copy of the vector index projection, run in the lifespan.

Each API replica follows the event store into its own in-process usearch indexes (products
and designs) under ``<data_dir>/indexes/api``; it starts serving at once and catches up in
the background, saving the indexes with their position periodically and on shutdown. The
same lifespan creates the tables the studio endpoints read (the design gallery, when no
projection worker has created it yet, and the search log).
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import AsyncIterator
from pathlib import Path

import anyio.to_thread
from litestar import Litestar
from litestar.datastructures import State

from infrastructure.search.follower import VectorIndexFollower
from infrastructure.settings import Settings
from projections.designs import DesignsProjector
from projections.runner import ensure_projection_tables
from projections.search import create_search_log

EXTRA_KEY = "vectors"


def api_index_dir(settings: Settings) -> Path:
    """Where the API keeps its vector indexes (and what `modiste search reindex` rebuilds)."""
    return settings.data_dir / "indexes" / "api"


def provide_vectors(state: State) -> VectorIndexFollower:
    follower = state.runtime.extras.get(EXTRA_KEY)
    assert isinstance(follower, VectorIndexFollower), "the vector lifespan has not started"
    return follower


@contextlib.asynccontextmanager
async def vector_lifespan(app: Litestar) -> AsyncIterator[None]:
    """Start following after the main lifespan has built the runtime; save on the way out."""
    runtime = app.state.runtime
    container = runtime.container
    settings = container.settings
    await ensure_projection_tables(runtime.db_pool, DesignsProjector())
    await create_search_log(runtime.db_pool)
    follower = VectorIndexFollower(container.catalog, api_index_dir(settings))
    await anyio.to_thread.run_sync(follower.load)
    runtime.extras[EXTRA_KEY] = follower
    if container.ml.export_ready():
        # CLIP sessions load in the background, so the first search does not pay for them.
        threading.Thread(
            target=lambda: container.ml.warm_up(generator=False), name="clip-warm-up", daemon=True
        ).start()
    stop = asyncio.Event()
    task = asyncio.create_task(
        follower.run(
            stop,
            poll_seconds=settings.studio.index_poll_interval_seconds,
            save_seconds=settings.studio.index_save_interval_seconds,
        ),
        name="vector-index-follower",
    )
    try:
        yield
    finally:
        stop.set()
        await task
