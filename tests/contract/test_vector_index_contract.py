"""The VectorIndex contract, and the persistence guarantees of the usearch projection.

``VectorIndexContract`` states what every ``VectorIndex`` adapter promises; an adapter's test
class inherits it and provides the ``make_index`` fixture.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

import infrastructure.search.usearch_index as usearch_module
from application.ports import VectorIndex, VectorMatch
from infrastructure.search.usearch_index import IndexStateError, UsearchIndex

DIM = 32
F16_TOLERANCE = 2e-3

MakeIndex = Callable[[], VectorIndex]


def unit_vectors(n: int, dim: int = DIM, seed: int = 0) -> npt.NDArray[np.float32]:
    rng = np.random.default_rng(seed)
    rows = rng.normal(size=(n, dim)).astype(np.float32)
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


def keys_of(matches: list[VectorMatch]) -> list[str]:
    return [m.key for m in matches]


class VectorIndexContract:
    """Behaviour every VectorIndex must show. Subclasses provide ``make_index``."""

    @pytest.fixture
    def make_index(self) -> MakeIndex:  # pragma: no cover - overridden
        raise NotImplementedError

    @pytest.fixture
    def filled(self, make_index: MakeIndex) -> tuple[VectorIndex, npt.NDArray[np.float32]]:
        index = make_index()
        vectors = unit_vectors(300)
        for i, vector in enumerate(vectors):
            index.upsert(f"item-{i}", vector)
        return index, vectors

    def test_empty_index_finds_nothing(self, make_index: MakeIndex) -> None:
        index = make_index()
        assert len(index) == 0
        assert index.search(unit_vectors(1)[0], 5) == []

    def test_an_item_is_its_own_nearest_neighbour(self, filled: tuple) -> None:
        index, vectors = filled
        for i in (0, 17, 123, 299):
            matches = index.search(vectors[i], 5)
            assert matches[0].key == f"item-{i}"
            assert matches[0].similarity == pytest.approx(1.0, abs=F16_TOLERANCE)

    def test_results_are_sorted_bounded_and_distinct(self, filled: tuple) -> None:
        index, _ = filled
        matches = index.search(unit_vectors(1, seed=99)[0], 20)
        assert len(matches) == 20
        similarities = [m.similarity for m in matches]
        assert similarities == sorted(similarities, reverse=True)
        assert all(-1.0 <= s <= 1.0 for s in similarities)
        assert len(set(keys_of(matches))) == 20

    def test_similarity_is_cosine(self, make_index: MakeIndex) -> None:
        index = make_index()
        a = np.zeros(DIM, dtype=np.float32)
        a[0] = 1.0
        b = np.zeros(DIM, dtype=np.float32)
        b[0], b[1] = 0.6, 0.8
        index.upsert("b", b)
        (match,) = index.search(a, 1)
        assert match == VectorMatch("b", pytest.approx(0.6, abs=F16_TOLERANCE))

    def test_limit_is_respected(self, filled: tuple) -> None:
        index, vectors = filled
        assert len(index.search(vectors[0], 7)) == 7
        assert index.search(vectors[0], 0) == []

    def test_limit_above_size_returns_everything(self, make_index: MakeIndex) -> None:
        index = make_index()
        for i, vector in enumerate(unit_vectors(3)):
            index.upsert(str(i), vector)
        assert sorted(keys_of(index.search(unit_vectors(1, seed=5)[0], 50))) == ["0", "1", "2"]

    def test_upsert_of_an_existing_key_replaces_its_vector(self, filled: tuple) -> None:
        index, vectors = filled
        before = len(index)
        index.upsert("item-5", vectors[200])
        assert len(index) == before
        top = index.search(vectors[200], 2)
        assert set(keys_of(top)) == {"item-5", "item-200"}
        old_neighbours = index.search(vectors[5], 3)
        assert "item-5" not in keys_of(old_neighbours)

    def test_remove_forgets_the_key(self, filled: tuple) -> None:
        index, vectors = filled
        index.remove("item-42")
        assert len(index) == 299
        assert "item-42" not in keys_of(index.search(vectors[42], 10))

    def test_remove_of_an_absent_key_is_a_no_op(self, filled: tuple) -> None:
        index, _ = filled
        index.remove("never-added")
        index.remove("item-1")
        index.remove("item-1")
        assert len(index) == 299

    def test_a_removed_key_can_come_back(self, filled: tuple) -> None:
        index, vectors = filled
        index.remove("item-9")
        index.upsert("item-9", vectors[9])
        assert index.search(vectors[9], 1)[0].key == "item-9"
        assert len(index) == 300

    def test_vectors_need_not_be_normalised(self, make_index: MakeIndex) -> None:
        index = make_index()
        vectors = unit_vectors(20)
        for i, vector in enumerate(vectors):
            index.upsert(str(i), vector * 1e6)  # would overflow f16 if stored raw
        match = index.search(vectors[3] * 1e-3, 1)[0]
        assert match.key == "3"
        assert match.similarity == pytest.approx(1.0, abs=F16_TOLERANCE)

    @pytest.mark.parametrize(
        "bad",
        [
            np.zeros(DIM, dtype=np.float32),
            np.ones(DIM + 1, dtype=np.float32),
            np.full(DIM, np.nan, dtype=np.float32),
        ],
        ids=["zero", "wrong-dimensions", "nan"],
    )
    def test_bad_vectors_are_refused(self, make_index: MakeIndex, bad: np.ndarray) -> None:
        index = make_index()
        with pytest.raises(ValueError):
            index.upsert("x", bad)
        with pytest.raises(ValueError):
            index.search(bad, 3)
        assert len(index) == 0

    def test_self_recall_on_a_larger_set(self, make_index: MakeIndex) -> None:
        index = make_index()
        vectors = unit_vectors(3000, seed=7)
        for i, vector in enumerate(vectors):
            index.upsert(str(i), vector)
        hits = sum(index.search(vectors[i], 1)[0].key == str(i) for i in range(0, 3000, 10))
        assert hits >= 297  # >= 99 % of 300 probes


class TestUsearchIndex(VectorIndexContract):
    @pytest.fixture
    def make_index(self, tmp_path: Path) -> MakeIndex:
        return lambda: UsearchIndex(DIM, tmp_path / "index")

    # -- persistence ---------------------------------------------------------------------

    def test_round_trip_keeps_vectors_keys_and_position(self, tmp_path: Path) -> None:
        path = tmp_path / "index"
        index = UsearchIndex(DIM, path, expansion_search=80)
        vectors = unit_vectors(500)
        index.upsert_many([f"k{i}" for i in range(500)], vectors)
        index.remove("k3")
        index.upsert("k4", vectors[10])
        index.save(position=1234)
        assert index.position == 1234

        loaded, position = UsearchIndex.load(path)
        assert position == 1234 and loaded.position == 1234
        assert len(loaded) == 499
        assert loaded.dimensions == DIM and loaded.expansion_search == 80
        assert "k3" not in loaded
        for i in (0, 250, 499):
            assert loaded.search(vectors[i], 1)[0].key == f"k{i}"
        assert set(keys_of(loaded.search(vectors[10], 2))) == {"k4", "k10"}
        got = loaded.get("k7")
        assert got is not None
        assert np.allclose(got, vectors[7], atol=F16_TOLERANCE)

    def test_labels_are_not_reused_after_a_reload(self, tmp_path: Path) -> None:
        path = tmp_path / "index"
        index = UsearchIndex(DIM, path)
        vectors = unit_vectors(4)
        for i in range(3):
            index.upsert(f"k{i}", vectors[i])
        index.remove("k2")  # frees the highest label
        index.save(7)
        loaded, _ = UsearchIndex.load(path)
        loaded.upsert("new", vectors[3])
        assert {m.key for m in loaded.search(vectors[3], 3)} == {"new", "k0", "k1"}
        assert loaded.search(vectors[0], 1)[0].key == "k0"
        assert loaded.search(vectors[1], 1)[0].key == "k1"

    def test_saving_again_replaces_the_previous_snapshot(self, tmp_path: Path) -> None:
        path = tmp_path / "index"
        index = UsearchIndex(DIM, path)
        vectors = unit_vectors(2)
        index.upsert("a", vectors[0])
        index.save(1)
        index.upsert("b", vectors[1])
        index.save(2)
        loaded, position = UsearchIndex.load(path)
        assert position == 2 and len(loaded) == 2
        names = sorted(p.name for p in path.iterdir())
        assert names == ["index-00000002.usearch", "keys-00000002.json", "manifest.json"]

    def test_an_interrupted_save_leaves_the_previous_state(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        path = tmp_path / "index"
        index = UsearchIndex(DIM, path)
        vectors = unit_vectors(2)
        index.upsert("a", vectors[0])
        index.save(10)
        index.upsert("b", vectors[1])

        real_write = usearch_module._write_atomically

        def crash_on_manifest(target: Path, data: bytes) -> None:
            if target.name == usearch_module.MANIFEST_NAME:
                raise OSError("disk full")
            real_write(target, data)

        monkeypatch.setattr(usearch_module, "_write_atomically", crash_on_manifest)
        with pytest.raises(OSError, match="disk full"):
            index.save(11)
        monkeypatch.undo()

        loaded, position = UsearchIndex.load(path)
        assert position == 10
        assert len(loaded) == 1 and "a" in loaded and "b" not in loaded
        index.save(11)  # the next save succeeds over the debris
        assert UsearchIndex.load(path)[1] == 11

    def test_empty_index_round_trip(self, tmp_path: Path) -> None:
        UsearchIndex(DIM, tmp_path / "i").save(0)
        loaded, position = UsearchIndex.load(tmp_path / "i")
        assert (len(loaded), position) == (0, 0)

    def test_load_of_nothing_raises_file_not_found(self, tmp_path: Path) -> None:
        with pytest.raises(FileNotFoundError):
            UsearchIndex.load(tmp_path / "absent")

    def test_load_or_create(self, tmp_path: Path) -> None:
        path = tmp_path / "index"
        fresh, position = UsearchIndex.load_or_create(DIM, path)
        assert (len(fresh), position) == (0, 0)
        fresh.upsert("a", unit_vectors(1)[0])
        fresh.save(3)
        again, position = UsearchIndex.load_or_create(DIM, path)
        assert (len(again), position) == (1, 3)
        with pytest.raises(IndexStateError):
            UsearchIndex.load_or_create(DIM * 2, path)

    def test_an_inconsistent_key_map_is_refused(self, tmp_path: Path) -> None:
        path = tmp_path / "index"
        index = UsearchIndex(DIM, path)
        index.upsert("a", unit_vectors(1)[0])
        index.save(1)
        keys_file = path / "keys-00000001.json"
        keys_file.write_text(json.dumps({"labels": [0, 1], "keys": ["a", "b"]}))
        with pytest.raises(IndexStateError):
            UsearchIndex.load(path)
        keys_file.write_text("{not json")
        with pytest.raises(IndexStateError):
            UsearchIndex.load(path)

    def test_save_needs_a_path_and_a_valid_position(self, tmp_path: Path) -> None:
        with pytest.raises(ValueError):
            UsearchIndex(DIM).save(1)
        with pytest.raises(ValueError):
            UsearchIndex(DIM, tmp_path / "i").save(-1)

    # -- bulk and concurrency ------------------------------------------------------------

    def test_upsert_many_keeps_the_last_row_of_a_repeated_key(self, tmp_path: Path) -> None:
        index = UsearchIndex(DIM)
        vectors = unit_vectors(4)
        index.upsert("old", vectors[0])
        index.upsert_many(["a", "old", "a"], vectors[1:4])
        assert len(index) == 2
        assert index.search(vectors[3], 1)[0].key == "a"
        assert index.search(vectors[2], 1)[0].key == "old"
        assert "old" not in keys_of(index.search(vectors[0], 1))

    def test_search_many_matches_search(self) -> None:
        index = UsearchIndex(DIM)
        vectors = unit_vectors(200)
        index.upsert_many([str(i) for i in range(200)], vectors)
        batched = index.search_many(vectors[:5], 3)
        assert [keys_of(b)[0] for b in batched] == ["0", "1", "2", "3", "4"]

    def test_concurrent_searches_and_upserts(self) -> None:
        index = UsearchIndex(DIM)
        vectors = unit_vectors(2000, seed=3)
        index.upsert_many([str(i) for i in range(1000)], vectors[:1000])
        errors: list[BaseException] = []

        def writer() -> None:
            try:
                for i in range(1000, 2000):
                    index.upsert(str(i), vectors[i])
                    if i % 7 == 0:
                        index.remove(str(i - 1000))
            except BaseException as error:  # pragma: no cover - reported below
                errors.append(error)

        def reader(seed: int) -> None:
            try:
                queries = unit_vectors(300, seed=seed)
                for query in queries:
                    matches = index.search(query, 5)
                    assert len({m.key for m in matches}) == len(matches)
            except BaseException as error:  # pragma: no cover - reported below
                errors.append(error)

        threads = [threading.Thread(target=writer)]
        threads += [threading.Thread(target=reader, args=(s,)) for s in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert errors == []
        removed = len([i for i in range(1000, 2000) if i % 7 == 0])
        assert len(index) == 2000 - removed
        assert index.search(vectors[1999], 1)[0].key == "1999"
