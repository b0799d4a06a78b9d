"""The vector indexes as a projection of the event store (see docs/adr/0011 and 0013).

A ``VectorIndexFollower`` keeps one ``UsearchIndex`` per collection and embedding model:

=============  ==============================  ==========================
collection     upsert on                       remove on
=============  ==============================  ==========================
``products``   ``Product.ProductImageEmbedded``  ``Product.ProductDelisted``
``designs``    ``Design.DesignEmbedded``         ``Design.DesignArchived``
=============  ==============================  ==========================

It reads the notification log straight from PostgreSQL (only those four event types, by
topic), applies them in position order and remembers the position. Vectors come from the
events (float16 bytes), so building or rebuilding an index never runs a model. Vectors of
different models live in different indexes and are never compared with one another.

Persistence (``directory`` given): every index is saved with the follower's position, then
``state.json`` commits the set of indexes, the position and the identity of the event store
(its first notification), under an exclusive file lock. On load, a state written for another
store (a fresh database, a test) or ahead of the store's head is discarded and the indexes
are rebuilt from the events. Replaying from an older position is harmless: upserts and
removes are idempotent and applied in order.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import hashlib
import json
import os
import re
import shutil
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

# onnxruntime must be loaded before usearch in a process that later runs a model (usearch's
# statically linked libstdc++ makes a later onnxruntime import crash; see
# infrastructure/ml/runtime.py). Every process that follows the index may run CLIP too.
import onnxruntime  # noqa: F401
import structlog
from eventsourcing.persistence import Notification
from eventsourcing.utils import get_topic

from application.agents.designer import Neighbourhood
from application.base import ModisteApplication
from application.ports import Vector, VectorMatch
from domain.catalog.aggregates import Product
from domain.designs.aggregates import Design
from domain.shared.vectors import from_f16_bytes
from infrastructure.search.usearch_index import IndexStateError, UsearchIndex

log = structlog.get_logger(__name__)

PRODUCTS = "products"
DESIGNS = "designs"
COLLECTIONS = (PRODUCTS, DESIGNS)
STATE_FILE = "state.json"
STATE_FORMAT = 1
UPSERTS: dict[str, str] = {
    get_topic(Product.ProductImageEmbedded): PRODUCTS,
    get_topic(Design.DesignEmbedded): DESIGNS,
}
REMOVALS: dict[str, str] = {
    get_topic(Product.ProductDelisted): PRODUCTS,
    get_topic(Design.DesignArchived): DESIGNS,
}
TOPICS = [*UPSERTS, *REMOVALS]

ProgressCallback = Callable[[int], None]
"""Called with the number of events applied so far."""


def model_dir_name(model_id: str) -> str:
    """A directory name for a model id (readable, and unique thanks to a short hash)."""
    readable = re.sub(r"[^A-Za-z0-9._-]+", "_", model_id)[:60]
    return f"{readable}-{hashlib.sha256(model_id.encode()).hexdigest()[:8]}"


@contextlib.contextmanager
def _locked(directory: Path) -> Iterator[None]:
    directory.mkdir(parents=True, exist_ok=True)
    with open(directory / ".lock", "a") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


@dataclass(frozen=True)
class IndexInfo:
    collection: str
    model_id: str
    count: int
    dimensions: int


@dataclass(frozen=True)
class RebuildStats:
    events: int
    position: int
    seconds: float
    indexes: list[IndexInfo]


class VectorIndexFollower:
    """Keeps the product and design vector indexes up to date from the event store."""

    def __init__(
        self, app: ModisteApplication, directory: Path | None = None, *, page_size: int = 2000
    ) -> None:
        self._app = app
        self.directory = Path(directory) if directory is not None else None
        self._page_size = page_size
        self._indexes: dict[tuple[str, str], UsearchIndex] = {}
        self._position = 0
        self._saved_position = -1
        self._apply_lock = threading.RLock()

    # -- queries -------------------------------------------------------------------------

    @property
    def position(self) -> int:
        """The notification id every index has been brought up to."""
        return self._position

    def index(self, collection: str, model_id: str) -> UsearchIndex | None:
        return self._indexes.get((collection, model_id))

    def search(
        self, collection: str, model_id: str, vector: Vector, limit: int
    ) -> list[VectorMatch]:
        """Nearest keys of ``collection`` embedded with ``model_id`` (none for other models)."""
        index = self.index(collection, model_id)
        return index.search(vector, limit) if index is not None else []

    def describe(self) -> list[IndexInfo]:
        return [
            IndexInfo(collection, model_id, len(index), index.dimensions)
            for (collection, model_id), index in sorted(self._indexes.items())
        ]

    # -- following the event store ------------------------------------------------------------

    def store_identity(self) -> str | None:
        """The event store's first notification, which tells one store from another."""
        first = self._app.recorder.select_notifications(start=None, limit=1)
        if not first:
            return None
        return f"{first[0].id}:{first[0].originator_id}"

    def catch_up(self, progress: ProgressCallback | None = None) -> int:
        """Apply every embedding, delisting and archiving event after the position."""
        applied = 0
        with self._apply_lock:
            recorder = self._app.recorder
            while True:
                head = recorder.max_notification_id() or 0
                if head < self._position:
                    log.warning("vectors.store_reset", position=self._position, head=head)
                    self._reset()
                if head == self._position:
                    return applied
                page = recorder.select_notifications(
                    start=self._position,
                    limit=self._page_size,
                    stop=head,
                    topics=TOPICS,
                    inclusive_of_start=False,
                )
                for notification in page:
                    self._apply(notification)
                applied += len(page)
                self._position = page[-1].id if len(page) == self._page_size else head
                if progress is not None:
                    progress(applied)

    def _apply(self, notification: Notification) -> None:
        event: Any = self._app.mapper.to_domain_event(notification)
        key = str(event.originator_id)
        collection = UPSERTS.get(notification.topic)
        if collection is not None:
            try:
                vector = from_f16_bytes(event.vector_f16)
                self._index_for(collection, event.model_id, vector.size).upsert(key, vector)
            except (ValueError, IndexStateError) as exc:
                log.warning("vectors.skipped", key=key, position=notification.id, error=str(exc))
            return
        collection = REMOVALS.get(notification.topic)
        if collection is not None:
            for (name, _), index in self._indexes.items():
                if name == collection:
                    index.remove(key)

    def _index_for(self, collection: str, model_id: str, dimensions: int) -> UsearchIndex:
        index = self._indexes.get((collection, model_id))
        if index is None:
            path = self._index_path(collection, model_id)
            index = UsearchIndex(dimensions, path)
            self._indexes[(collection, model_id)] = index
        elif index.dimensions != dimensions:
            raise ValueError(
                f"{model_id} vector has {dimensions} dimensions, its index {index.dimensions}"
            )
        return index

    def _index_path(self, collection: str, model_id: str) -> Path | None:
        if self.directory is None:
            return None
        return self.directory / collection / model_dir_name(model_id)

    def _reset(self) -> None:
        self._indexes = {}
        self._position = 0
        self._saved_position = -1

    # -- persistence ---------------------------------------------------------------------

    def load(self) -> bool:
        """Load the saved indexes if they belong to this store; False means starting empty."""
        with self._apply_lock:
            self._reset()
            if self.directory is None:
                return False
            with _locked(self.directory):
                loaded = self._load_locked()
                if not loaded:
                    self._clear_directory()
            log.info(
                "vectors.loaded" if loaded else "vectors.starting_empty",
                directory=str(self.directory),
                position=self._position,
                indexes=[(i.collection, i.model_id, i.count) for i in self.describe()],
            )
            return loaded

    def _load_locked(self) -> bool:
        assert self.directory is not None
        try:
            state = json.loads((self.directory / STATE_FILE).read_text())
        except FileNotFoundError:
            return False
        except ValueError:
            log.warning("vectors.state_unreadable", directory=str(self.directory))
            return False
        identity = self.store_identity()
        head = self._app.recorder.max_notification_id() or 0
        position = int(state.get("position", -1))
        if state.get("format") != STATE_FORMAT or state.get("identity") != identity:
            log.info("vectors.other_store", directory=str(self.directory))
            return False
        if not 0 <= position <= head:
            log.warning("vectors.ahead_of_store", position=position, head=head)
            return False
        indexes: dict[tuple[str, str], UsearchIndex] = {}
        for entry in state.get("indexes", []):
            collection, model_id = entry["collection"], entry["model_id"]
            path = self._index_path(collection, model_id)
            assert path is not None
            try:
                index, saved = UsearchIndex.load(path)
            except (FileNotFoundError, IndexStateError) as exc:
                log.warning("vectors.index_unusable", path=str(path), error=str(exc))
                return False
            if saved < position:
                log.warning("vectors.index_behind", path=str(path), saved=saved, state=position)
                return False
            indexes[(collection, model_id)] = index
        self._indexes = indexes
        self._position = position
        self._saved_position = position
        return True

    def _clear_directory(self) -> None:
        assert self.directory is not None
        for entry in self.directory.iterdir():
            if entry.name == ".lock":
                continue
            if entry.is_dir():
                shutil.rmtree(entry, ignore_errors=True)
            else:
                entry.unlink(missing_ok=True)

    def save(self) -> bool:
        """Persist every index with the position (no-op without a directory or news)."""
        if self.directory is None:
            return False
        with self._apply_lock:
            if self._saved_position == self._position:
                return False
            with _locked(self.directory):
                for index in self._indexes.values():
                    index.save(self._position)
                state = {
                    "format": STATE_FORMAT,
                    "position": self._position,
                    "identity": self.store_identity(),
                    "indexes": [
                        {"collection": c, "model_id": m, "count": len(index)}
                        for (c, m), index in sorted(self._indexes.items())
                    ],
                }
                tmp = self.directory / f".{STATE_FILE}.tmp"
                with open(tmp, "w") as handle:
                    json.dump(state, handle, indent=2)
                    handle.flush()
                    os.fsync(handle.fileno())
                os.replace(tmp, self.directory / STATE_FILE)
            self._saved_position = self._position
            return True

    def rebuild(self, progress: ProgressCallback | None = None) -> RebuildStats:
        """Drop the indexes and build them again from the events (no model runs), in bulk."""
        started = time.perf_counter()
        with self._apply_lock:
            self._reset()
            if self.directory is not None:
                with _locked(self.directory):
                    self._clear_directory()
            latest: dict[tuple[str, str], dict[str, npt.NDArray[np.float32] | None]] = {}
            events = 0
            recorder = self._app.recorder
            head = recorder.max_notification_id() or 0
            position = 0
            while position < head:
                page = recorder.select_notifications(
                    start=position,
                    limit=self._page_size,
                    stop=head,
                    topics=TOPICS,
                    inclusive_of_start=False,
                )
                for notification in page:
                    self._collect(notification, latest)
                events += len(page)
                position = page[-1].id if len(page) == self._page_size else head
                if progress is not None:
                    progress(events)
            for (collection, model_id), vectors in latest.items():
                kept = {key: v for key, v in vectors.items() if v is not None}
                if not kept:
                    continue
                first = next(iter(kept.values()))
                index = self._index_for(collection, model_id, first.size)
                index.upsert_many(list(kept), np.stack(list(kept.values())))
            self._position = head
            self.save()
            return RebuildStats(events, head, time.perf_counter() - started, self.describe())

    def _collect(
        self,
        notification: Notification,
        latest: dict[tuple[str, str], dict[str, npt.NDArray[np.float32] | None]],
    ) -> None:
        """The net effect of one event on the final state of the indexes."""
        event: Any = self._app.mapper.to_domain_event(notification)
        key = str(event.originator_id)
        collection = UPSERTS.get(notification.topic)
        if collection is not None:
            try:
                vector = from_f16_bytes(event.vector_f16)
            except ValueError:
                return
            if not np.any(vector) or not np.all(np.isfinite(vector)):
                return
            for (name, model_id), vectors in latest.items():
                if name == collection and model_id != event.model_id:
                    vectors.pop(key, None)
            latest.setdefault((collection, event.model_id), {})[key] = vector
            return
        collection = REMOVALS.get(notification.topic)
        if collection is not None:
            for (name, _), vectors in latest.items():
                if name == collection:
                    vectors[key] = None

    # -- running beside the API ------------------------------------------------------------

    async def run(
        self,
        stop: asyncio.Event,
        *,
        poll_seconds: float = 0.25,
        save_seconds: float = 30.0,
    ) -> None:
        """Follow the store until ``stop`` is set; save periodically and on the way out."""
        last_save = time.monotonic()
        try:
            while not stop.is_set():
                try:
                    await asyncio.to_thread(self.catch_up)
                    if time.monotonic() - last_save >= save_seconds:
                        await asyncio.to_thread(self.save)
                        last_save = time.monotonic()
                except Exception as exc:  # the database is away: keep serving, try again
                    log.warning("vectors.follow_failed", error=f"{type(exc).__name__}: {exc}")
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), poll_seconds)
        finally:
            try:
                await asyncio.to_thread(self.save)
            except Exception as exc:
                log.warning("vectors.save_failed", error=f"{type(exc).__name__}: {exc}")


class FollowedDesignNeighbours:
    """``DesignNeighbours`` for the designer agent: an in-memory follower of design vectors.

    Each call first catches up with the store, so a design is compared with every design
    embedded before it was evaluated (itself excluded).
    """

    def __init__(self, app: ModisteApplication) -> None:
        self._follower = VectorIndexFollower(app)

    def nearest(self, model_id: str, vector: Vector, exclude: str) -> Neighbourhood:
        self._follower.catch_up()
        index = self._follower.index(DESIGNS, model_id)
        if index is None:
            return Neighbourhood(None, None, 0)
        compared = len(index) - (1 if exclude in index else 0)
        for match in index.search(vector, 2):
            if match.key != exclude:
                return Neighbourhood(match.key, match.similarity, compared)
        return Neighbourhood(None, None, compared)
