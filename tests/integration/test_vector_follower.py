"""The vector index projection on real PostgreSQL: follow, save, load, rebuild, never a model."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import numpy as np

from application.catalog import ListProduct
from application.designs import RequestDesign
from domain.catalog.aggregates import Product
from domain.shared.money import Money
from domain.shared.vectors import to_f16_bytes
from infrastructure.bootstrap import Container
from infrastructure.search.follower import DESIGNS, PRODUCTS, VectorIndexFollower

DIMS = 16


def unit(seed: int) -> np.ndarray:
    vector = np.random.default_rng(seed).normal(size=DIMS).astype(np.float32)
    return vector / np.linalg.norm(vector)


def embedded_product(container: Container, seed: int, model_id: str = "clip-a") -> uuid.UUID:
    product = container.catalog.list_product(
        ListProduct(
            title=f"p{seed}", description="", category="c", brand="b", price=Money(1000, "EUR")
        )
    ).aggregate
    container.catalog.execute(
        product.id, Product, lambda p: p.record_image_embedding(model_id, to_f16_bytes(unit(seed)))
    )
    return product.id


def embedded_design(container: Container, seed: int) -> uuid.UUID:
    design = container.designs.request_design(
        RequestDesign(prompt=f"design {seed}", requested_by="designer:d", seed=seed)
    ).aggregate
    design.enhance_prompt("p", "")
    design.record_generation(
        image_sha256="ab" * 32,
        media_type="image/png",
        width=64,
        height=64,
        seed=seed,
        steps=1,
        guidance=1.0,
        model_id="m",
        model_hash="h",
        duration_seconds=0.1,
    )
    design.record_embedding("clip-a", to_f16_bytes(unit(1000 + seed)))
    container.designs.save(design)
    return design.id


def test_the_follower_applies_embeddings_and_removals_in_order(
    container: Container, tmp_path: Path
) -> None:
    ids = [embedded_product(container, seed) for seed in range(5)]
    design_id = embedded_design(container, 1)
    follower = VectorIndexFollower(container.catalog, tmp_path / "idx")
    assert follower.load() is False
    assert follower.catch_up() == 6
    [best, *_] = follower.search(PRODUCTS, "clip-a", unit(3), 3)
    assert best.key == str(ids[3]) and best.similarity > 0.999
    assert follower.search(DESIGNS, "clip-a", unit(1001), 1)[0].key == str(design_id)
    assert follower.search(PRODUCTS, "another-model", unit(3), 3) == []

    container.catalog.delist(ids[3], "sold out for good")
    container.designs.archive(design_id)
    assert follower.catch_up() == 2
    assert str(ids[3]) not in follower.index(PRODUCTS, "clip-a")  # type: ignore[operator]
    assert len(follower.index(DESIGNS, "clip-a")) == 0  # type: ignore[arg-type]
    assert follower.position == container.catalog.recorder.max_notification_id()


def test_saved_indexes_load_at_their_position_and_resume(
    container: Container, tmp_path: Path
) -> None:
    first = [embedded_product(container, seed) for seed in range(3)]
    follower = VectorIndexFollower(container.catalog, tmp_path / "idx")
    follower.load()
    follower.catch_up()
    assert follower.save() is True
    assert follower.save() is False  # nothing new
    saved_at = follower.position

    later = embedded_product(container, 10)
    again = VectorIndexFollower(container.catalog, tmp_path / "idx")
    assert again.load() is True and again.position == saved_at
    assert len(again.index(PRODUCTS, "clip-a")) == 3  # type: ignore[arg-type]
    assert again.catch_up() == 1
    keys = {m.key for m in again.search(PRODUCTS, "clip-a", unit(10), 10)}
    assert keys == {str(i) for i in [*first, later]}


def test_indexes_saved_for_another_event_store_are_discarded(
    container: Container, tmp_path: Path, servers: object, settings: object
) -> None:
    embedded_product(container, 1)
    follower = VectorIndexFollower(container.catalog, tmp_path / "idx")
    follower.load()
    follower.catch_up()
    follower.save()

    from infrastructure.bootstrap import bootstrap

    other = bootstrap(settings, servers.create_database())  # type: ignore[arg-type, attr-defined]
    try:
        product = embedded_product(other, 2)
        stranger = VectorIndexFollower(other.catalog, tmp_path / "idx")
        assert stranger.load() is False
        stranger.catch_up()
        assert [m.key for m in stranger.search(PRODUCTS, "clip-a", unit(2), 5)] == [str(product)]
    finally:
        other.close()


def test_a_rebuild_gives_the_same_index_as_following_and_runs_no_model(
    container: Container, tmp_path: Path
) -> None:
    ids = [embedded_product(container, seed) for seed in range(20)]
    embedded_product(container, 99, model_id="clip-b")
    container.catalog.delist(ids[0])
    container.catalog.execute(  # a re-embedding replaces the vector
        ids[1], Product, lambda p: p.record_image_embedding("clip-a", to_f16_bytes(unit(500)))
    )
    followed = VectorIndexFollower(container.catalog)
    followed.catch_up()
    rebuilt = VectorIndexFollower(container.catalog, tmp_path / "idx")
    seen: list[int] = []
    stats = rebuilt.rebuild(seen.append)
    assert stats.events == 23 and seen[-1] == 23
    assert stats.position == followed.position
    assert {(i.collection, i.model_id, i.count) for i in stats.indexes} == {
        (PRODUCTS, "clip-a", 19),
        (PRODUCTS, "clip-b", 1),
    }
    for seed in (2, 500, 7):
        assert [m.key for m in rebuilt.search(PRODUCTS, "clip-a", unit(seed), 5)] == [
            m.key for m in followed.search(PRODUCTS, "clip-a", unit(seed), 5)
        ]
    assert rebuilt.search(PRODUCTS, "clip-a", unit(500), 1)[0].key == str(ids[1])
    reloaded = VectorIndexFollower(container.catalog, tmp_path / "idx")
    assert reloaded.load() is True and reloaded.position == stats.position


async def test_running_beside_the_api_follows_new_events_and_saves_on_stop(
    container: Container, tmp_path: Path
) -> None:
    follower = VectorIndexFollower(container.catalog, tmp_path / "idx")
    follower.load()
    stop = asyncio.Event()
    task = asyncio.create_task(follower.run(stop, poll_seconds=0.05, save_seconds=3600))
    product = await asyncio.to_thread(embedded_product, container, 4)
    for _ in range(200):
        if follower.search(PRODUCTS, "clip-a", unit(4), 1):
            break
        await asyncio.sleep(0.05)
    assert follower.search(PRODUCTS, "clip-a", unit(4), 1)[0].key == str(product)
    stop.set()
    await task
    assert (tmp_path / "idx" / "state.json").is_file()
