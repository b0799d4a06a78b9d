"""The vector index projection: usearch HNSW over unit vectors, cosine metric, f16 storage.

usearch addresses vectors by unsigned integer *labels*; the application speaks string *keys*
(product or design ids). This adapter keeps the key <-> label map beside the graph. Every
upsert takes a fresh label from a monotonic counter (persisted with the index), so a label is
never handed to a second key, not even after a remove.

On disk an index is a directory::

    manifest.json                 # commit point: position, parameters, current generation
    index-<generation>.usearch    # the HNSW graph and the f16 vectors
    keys-<generation>.json        # label -> key map

``save(position)`` writes the generation's files under temporary names, fsyncs them, moves
them into place with ``os.replace`` and only then replaces ``manifest.json``. A crash at any
point leaves the previous manifest and its files intact, so the index, the key map and the
position (the notification id the index has been built up to) always load as one state.

Concurrency: upserts and removes take a write lock; searches, ``get`` and ``save`` share a
read lock, so searches continue while a snapshot is written. The native search calls
themselves are serialised by one more mutex: usearch's Python binding picks its per-thread
search scratch space by worker index, not by caller, so two overlapping native searches could
share it. (Searching from two Python threads showed no speed-up over one in our
measurements; parallel search comes from ``search_many``, which spreads a batch over usearch's
own threads.)
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

# onnxruntime must be loaded before usearch's extension in any process that may later run a
# model: with the pinned wheels the other order segfaults (ADR 0010). Loading it here makes
# the order right whoever imports the index first.
with contextlib.suppress(ImportError):
    import onnxruntime  # noqa: F401

from usearch.compiled import MetricKind, ScalarKind
from usearch.index import BatchMatches, Index

from application.ports import Vector, VectorMatch

FORMAT_VERSION = 1
MANIFEST_NAME = "manifest.json"
_METRIC = "cos"
_DTYPE = "f16"


class IndexStateError(RuntimeError):
    """A saved index cannot be used: missing parts, inconsistent files or other parameters.

    The remedy is always the same: rebuild the projection from the event store.
    """


class _ReadWriteLock:
    """Many readers or one writer; a waiting writer holds back new readers."""

    def __init__(self) -> None:
        self._cond = threading.Condition(threading.Lock())
        self._readers = 0
        self._writer = False
        self._writers_waiting = 0

    @contextlib.contextmanager
    def read(self) -> Iterator[None]:
        with self._cond:
            while self._writer or self._writers_waiting:
                self._cond.wait()
            self._readers += 1
        try:
            yield
        finally:
            with self._cond:
                self._readers -= 1
                if self._readers == 0:
                    self._cond.notify_all()

    @contextlib.contextmanager
    def write(self) -> Iterator[None]:
        with self._cond:
            self._writers_waiting += 1
            try:
                while self._writer or self._readers:
                    self._cond.wait()
            finally:
                self._writers_waiting -= 1
            self._writer = True
        try:
            yield
        finally:
            with self._cond:
                self._writer = False
                self._cond.notify_all()


class UsearchIndex:
    """A ``VectorIndex`` backed by a usearch HNSW graph (cosine metric, f16 vectors)."""

    def __init__(
        self,
        dimensions: int,
        path: Path | None = None,
        connectivity: int = 16,
        expansion_add: int = 128,
        expansion_search: int = 64,
    ) -> None:
        if dimensions <= 0:
            raise ValueError("dimensions must be positive")
        for name, value in (
            ("connectivity", connectivity),
            ("expansion_add", expansion_add),
            ("expansion_search", expansion_search),
        ):
            if value <= 0:
                raise ValueError(f"{name} must be positive")
        self.dimensions = dimensions
        self.path = Path(path) if path is not None else None
        self.connectivity = connectivity
        self.expansion_add = expansion_add
        self._expansion_search = expansion_search
        self._index = self._new_usearch_index()
        self._key_to_label: dict[str, int] = {}
        self._label_to_key: dict[int, str] = {}
        self._next_label = 0
        self._position = 0
        self._lock = _ReadWriteLock()
        self._search_lock = threading.Lock()
        self._save_lock = threading.Lock()

    def _new_usearch_index(self) -> Index:
        return Index(
            ndim=self.dimensions,
            metric=_METRIC,
            dtype=_DTYPE,
            connectivity=self.connectivity,
            expansion_add=self.expansion_add,
            expansion_search=self._expansion_search,
        )

    @property
    def expansion_search(self) -> int:
        """Candidate list size of a search (HNSW ``ef``): higher is slower and more exact."""
        return self._expansion_search

    @expansion_search.setter
    def expansion_search(self, value: int) -> None:
        if value <= 0:
            raise ValueError("expansion_search must be positive")
        with self._lock.write():
            self._index.expansion_search = value  # type: ignore[misc]  # settable at run time
            self._expansion_search = value

    # -- VectorIndex ---------------------------------------------------------------------

    def upsert(self, key: str, vector: Vector) -> None:
        """Insert ``key`` or replace its vector."""
        _check_key(key)
        row = self._prepare(vector)
        with self._lock.write():
            label = self._next_label
            self._index.add(label, row)
            self._next_label += 1
            old = self._key_to_label.get(key)
            if old is not None:
                self._index.remove(old)
                del self._label_to_key[old]
            self._key_to_label[key] = label
            self._label_to_key[label] = key

    def remove(self, key: str) -> None:
        """Forget ``key``; removing an absent key is a no-op (projections replay events)."""
        with self._lock.write():
            label = self._key_to_label.pop(key, None)
            if label is not None:
                self._index.remove(label)
                del self._label_to_key[label]

    def search(self, query: Vector, limit: int) -> list[VectorMatch]:
        """The ``limit`` nearest keys to ``query``, most similar first (approximate)."""
        if limit < 0:
            raise ValueError("limit must not be negative")
        row = self._prepare(query)
        with self._lock.read():
            if limit == 0 or not self._key_to_label:
                return []
            with self._search_lock:
                matches = self._index.search(row, limit)
            return self._to_matches(matches.keys, matches.distances)

    def __len__(self) -> int:
        return len(self._key_to_label)

    # -- extras --------------------------------------------------------------------------

    def __contains__(self, key: object) -> bool:
        return key in self._key_to_label

    @property
    def position(self) -> int:
        """Notification id up to which the index was built, as last saved or loaded."""
        return self._position

    def get(self, key: str) -> npt.NDArray[np.float32] | None:
        """The stored (unit, f16-rounded) vector of ``key``, or None."""
        with self._lock.read():
            label = self._key_to_label.get(key)
            if label is None:
                return None
            return np.asarray(self._index.get(label), dtype=np.float32)

    def upsert_many(self, keys: Sequence[str], vectors: npt.ArrayLike, *, threads: int = 0) -> None:
        """Bulk upsert (rebuilds): one multi-threaded insert; a repeated key keeps its last row.

        ``threads=0`` lets usearch use every core.
        """
        rows = np.asarray(vectors, dtype=np.float32)
        if rows.ndim != 2 or rows.shape != (len(keys), self.dimensions):
            raise ValueError(
                f"expected vectors of shape ({len(keys)}, {self.dimensions}), got {rows.shape}"
            )
        for key in keys:
            _check_key(key)
        last_row = {key: i for i, key in enumerate(keys)}  # last occurrence wins
        order = np.fromiter(last_row.values(), dtype=np.int64, count=len(last_row))
        unique_keys = list(last_row)
        rows = _normalise_rows(rows[order])
        with self._lock.write():
            labels = np.arange(
                self._next_label, self._next_label + len(unique_keys), dtype=np.uint64
            )
            if len(unique_keys):
                self._index.add(labels, rows, threads=threads)
            self._next_label += len(unique_keys)
            stale = [self._key_to_label[key] for key in unique_keys if key in self._key_to_label]
            if stale:
                self._index.remove(np.asarray(stale, dtype=np.uint64))
                for old in stale:
                    del self._label_to_key[old]
            for key, label in zip(unique_keys, labels.tolist(), strict=True):
                self._key_to_label[key] = label
                self._label_to_key[label] = key

    def search_many(
        self, queries: npt.ArrayLike, limit: int, *, threads: int = 0
    ) -> list[list[VectorMatch]]:
        """Batched ``search``: one result list per query row, searched on ``threads`` threads."""
        if limit < 0:
            raise ValueError("limit must not be negative")
        rows = np.asarray(queries, dtype=np.float32)
        if rows.ndim != 2 or rows.shape[1] != self.dimensions:
            raise ValueError(f"expected queries of shape (n, {self.dimensions}), got {rows.shape}")
        rows = _normalise_rows(rows)
        with self._lock.read():
            if limit == 0 or not self._key_to_label or len(rows) == 0:
                return [[] for _ in range(len(rows))]
            with self._search_lock:
                batch = self._index.search(rows, limit, threads=threads)
            assert isinstance(batch, BatchMatches)
            keys, distances = np.asarray(batch.keys), np.asarray(batch.distances)
            counts = np.asarray(batch.counts).tolist()
            return [self._to_matches(keys[i, : counts[i]], distances[i]) for i in range(len(rows))]

    # -- persistence ---------------------------------------------------------------------

    def save(self, position: int) -> None:
        """Persist graph, key map and ``position`` atomically under ``self.path``."""
        if self.path is None:
            raise ValueError("this index has no path to save to")
        if position < 0:
            raise ValueError("position must not be negative")
        directory = self.path
        with self._save_lock, self._lock.read():
            directory.mkdir(parents=True, exist_ok=True)
            previous = _read_manifest(directory, missing_ok=True, corrupt_ok=True)
            generation = int(previous["generation"]) + 1 if previous else 1
            index_name = f"index-{generation:08d}.usearch"
            keys_name = f"keys-{generation:08d}.json"

            index_tmp = directory / f"{index_name}.tmp"
            self._index.save(str(index_tmp))
            _fsync_file(index_tmp)
            os.replace(index_tmp, directory / index_name)

            labels = list(self._label_to_key)
            key_map = {"labels": labels, "keys": [self._label_to_key[lb] for lb in labels]}
            _write_atomically(directory / keys_name, json.dumps(key_map).encode())

            manifest = {
                "format": FORMAT_VERSION,
                "generation": generation,
                "position": position,
                "dimensions": self.dimensions,
                "metric": _METRIC,
                "dtype": _DTYPE,
                "connectivity": self.connectivity,
                "expansion_add": self.expansion_add,
                "expansion_search": self.expansion_search,
                "next_label": self._next_label,
                "count": len(labels),
                "index_file": index_name,
                "keys_file": keys_name,
            }
            _write_atomically(directory / MANIFEST_NAME, json.dumps(manifest, indent=2).encode())
            _fsync_dir(directory)
            self._position = position
            _remove_stale_files(directory, keep={index_name, keys_name, MANIFEST_NAME})

    @classmethod
    def load(cls, path: Path, *, expansion_search: int | None = None) -> tuple[UsearchIndex, int]:
        """Open the index saved under ``path``; return it with its saved position.

        Raises FileNotFoundError when nothing was saved there and IndexStateError when the
        saved state is unusable.
        """
        path = Path(path)
        manifest = _read_manifest(path, missing_ok=False, corrupt_ok=False)
        assert manifest is not None
        try:
            if manifest["format"] != FORMAT_VERSION:
                raise IndexStateError(f"unsupported index format {manifest['format']!r}")
            if manifest["metric"] != _METRIC or manifest["dtype"] != _DTYPE:
                raise IndexStateError("saved index uses another metric or dtype")
            index = cls(
                dimensions=int(manifest["dimensions"]),
                path=path,
                connectivity=int(manifest["connectivity"]),
                expansion_add=int(manifest["expansion_add"]),
                expansion_search=expansion_search or int(manifest["expansion_search"]),
            )
            index_file = path / str(manifest["index_file"])
            keys_file = path / str(manifest["keys_file"])
            next_label = int(manifest["next_label"])
            position = int(manifest["position"])
            expected_count = int(manifest["count"])
        except (KeyError, TypeError, ValueError) as error:
            raise IndexStateError(f"malformed index manifest in {path}: {error}") from error
        try:
            key_map = json.loads(keys_file.read_bytes())
            labels = [int(label) for label in key_map["labels"]]
            keys = [str(key) for key in key_map["keys"]]
        except (OSError, ValueError, KeyError, TypeError) as error:
            raise IndexStateError(f"unreadable key map {keys_file}: {error}") from error
        try:
            index._index.load(str(index_file))
        except (OSError, RuntimeError, ValueError) as error:
            raise IndexStateError(f"unreadable index file {index_file}: {error}") from error
        inner = index._index
        if inner.ndim != index.dimensions or inner.metric_kind != MetricKind.Cos:
            raise IndexStateError("index file does not match its manifest")
        if inner.dtype != ScalarKind.F16:
            raise IndexStateError("index file does not store f16 vectors")
        if not (len(labels) == len(keys) == len(inner) == expected_count):
            raise IndexStateError("key map and index file disagree on the number of vectors")
        if labels and (
            max(labels) >= next_label
            or not bool(np.all(inner.contains(np.asarray(labels, dtype=np.uint64))))
        ):
            raise IndexStateError("key map names labels the index file does not hold")
        index._label_to_key = dict(zip(labels, keys, strict=True))
        index._key_to_label = {key: label for label, key in index._label_to_key.items()}
        if len(index._key_to_label) != len(keys):
            raise IndexStateError("key map holds a key twice")
        index._next_label = next_label
        index._position = position
        return index, position

    @classmethod
    def load_or_create(
        cls,
        dimensions: int,
        path: Path,
        connectivity: int = 16,
        expansion_add: int = 128,
        expansion_search: int = 64,
    ) -> tuple[UsearchIndex, int]:
        """``load`` when ``path`` holds a saved index, else a new empty one at position 0.

        A saved index of other dimensions raises IndexStateError (the embedding model
        changed: rebuild the projection).
        """
        try:
            index, position = cls.load(path, expansion_search=expansion_search)
        except FileNotFoundError:
            fresh = cls(dimensions, path, connectivity, expansion_add, expansion_search)
            return fresh, 0
        if index.dimensions != dimensions:
            raise IndexStateError(
                f"saved index has {index.dimensions} dimensions, expected {dimensions}"
            )
        return index, position

    # -- helpers -------------------------------------------------------------------------

    def _prepare(self, vector: Vector) -> npt.NDArray[np.float32]:
        row = np.asarray(vector, dtype=np.float32)
        if row.shape != (self.dimensions,):
            raise ValueError(f"expected a vector of shape ({self.dimensions},), got {row.shape}")
        normalised: npt.NDArray[np.float32] = _normalise_rows(row[np.newaxis, :])[0]
        return normalised

    def _to_matches(self, labels: Any, distances: Any) -> list[VectorMatch]:
        result: list[VectorMatch] = []
        for label, distance in zip(
            np.asarray(labels).tolist(), np.asarray(distances).tolist(), strict=False
        ):
            key = self._label_to_key.get(int(label))
            if key is not None:
                similarity = min(1.0, max(-1.0, 1.0 - float(distance)))
                result.append(VectorMatch(key=key, similarity=similarity))
        return result


def _check_key(key: str) -> None:
    if not isinstance(key, str) or not key:
        raise ValueError("a vector key is a non-empty string")


def _normalise_rows(rows: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    """Unit-length rows; refuses NaN, infinity and zero vectors (cosine is undefined there).

    Normalising before the f16 cast also keeps large components from overflowing f16.
    """
    if not np.all(np.isfinite(rows)):
        raise ValueError("vectors must be finite")
    norms = np.linalg.norm(rows.astype(np.float64), axis=1, keepdims=True)
    if np.any(norms == 0):
        raise ValueError("zero vectors have no direction (cosine is undefined)")
    return np.ascontiguousarray(rows / norms, dtype=np.float32)


def _read_manifest(directory: Path, *, missing_ok: bool, corrupt_ok: bool) -> dict[str, Any] | None:
    manifest_path = directory / MANIFEST_NAME
    try:
        raw = manifest_path.read_bytes()
    except FileNotFoundError:
        if missing_ok:
            return None
        raise
    try:
        manifest = json.loads(raw)
        if not isinstance(manifest, dict):
            raise ValueError("manifest is not an object")
        return manifest
    except ValueError as error:
        if corrupt_ok:
            return None
        raise IndexStateError(f"corrupt manifest {manifest_path}: {error}") from error


def _write_atomically(target: Path, data: bytes) -> None:
    tmp = target.with_name(f"{target.name}.tmp")
    with open(tmp, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, target)


def _fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_dir(directory: Path) -> None:
    with contextlib.suppress(OSError):  # not every platform can fsync a directory
        _fsync_file(directory)


def _remove_stale_files(directory: Path, keep: set[str]) -> None:
    for entry in directory.iterdir():
        stale = entry.name.endswith(".tmp") or (
            entry.name.startswith(("index-", "keys-")) and entry.name not in keep
        )
        if stale and entry.is_file():
            with contextlib.suppress(FileNotFoundError):
                entry.unlink()


__all__ = ["IndexStateError", "UsearchIndex"]
