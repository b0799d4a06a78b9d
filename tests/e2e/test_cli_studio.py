"""`modiste models` and `modiste search` as an operator runs them."""

from __future__ import annotations

from pathlib import Path

from domain.catalog.aggregates import Product
from domain.shared.vectors import to_f16_bytes
from infrastructure.bootstrap import Container
from tests.e2e.test_cli import clean_env, modiste
from tests.integration.test_vector_follower import embedded_product, unit


def test_export_needs_a_source_folder(tmp_path: Path) -> None:
    env = clean_env(MODISTE_DATA_DIR=str(tmp_path))
    nothing = modiste("models", "export", "--out", str(tmp_path / "out"), env=env)
    assert nothing.returncode == 2
    assert "give --clip DIR, --diffusion DIR, or both" in nothing.stderr
    missing = modiste(
        "models", "export", "--clip", str(tmp_path / "nope"), "--out", str(tmp_path), env=env
    )
    assert missing.returncode == 2 and "is not a folder" in missing.stderr


def test_reindex_rebuilds_the_vector_indexes_from_events(
    container: Container, database_url: str, tmp_path: Path
) -> None:
    for seed in range(3):
        embedded_product(container, seed)
    moved = embedded_product(container, 3)
    container.catalog.execute(
        moved, Product, lambda p: p.record_image_embedding("clip-b", to_f16_bytes(unit(7)))
    )
    env = clean_env(MODISTE_DATA_DIR=str(tmp_path), MODISTE_DATABASE_URL=database_url)
    before = modiste("search", "status", env=env)
    assert before.returncode == 0 and "no saved indexes" in before.stdout

    rebuilt = modiste("search", "reindex", env=env)
    assert rebuilt.returncode == 0, rebuilt.stderr
    assert "from 5 events" in rebuilt.stdout
    lines = [line.split() for line in rebuilt.stdout.splitlines() if line.startswith("  ")]
    assert sorted(lines) == [
        ["products", "clip-a", "3", "vectors"],
        ["products", "clip-b", "1", "vectors"],
    ]

    after = modiste("search", "status", env=env)
    assert after.returncode == 0
    assert f"position {container.catalog.recorder.max_notification_id()}" in after.stdout
    assert (tmp_path / "indexes" / "api" / "state.json").is_file()


def test_reindex_needs_the_database_url(tmp_path: Path) -> None:
    done = modiste("search", "reindex", env=clean_env(MODISTE_DATA_DIR=str(tmp_path)))
    assert done.returncode == 2 and "MODISTE_DATABASE_URL" in done.stderr
