"""`modiste models export` turns local Hugging Face folders into an export the API loads."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.e2e.test_cli import clean_env, modiste

pytestmark = pytest.mark.ml


def test_export_writes_a_manifest_with_hashes_and_the_int8_variant(
    tiny_models: Path, tmp_path: Path
) -> None:
    out = tmp_path / "export"
    done = modiste(
        "models",
        "export",
        "--clip",
        str(tiny_models / "hf" / "tiny-clip"),
        "--int8",
        "--out",
        str(out),
        env=clean_env(MODISTE_DATA_DIR=str(tmp_path)),
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert f"MODISTE_MODELS_DIR={out}" in done.stdout
    manifest = json.loads((out / "manifest.json").read_text())
    clip = manifest["clip"]
    assert clip["model_id"] == "tiny-clip" and clip["embedding_dim"] == 16
    assert set(clip["variants"]) == {"fp32", "int8"}
    assert len(clip["model_hash"]) == 64
    assert "diffusion" not in manifest
