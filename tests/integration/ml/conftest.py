"""Tiny random CLIP + diffusion models, built once with the production export code.

Built into ``.modiste/test-models/<key>`` where the key hashes the export code and the
toolchain versions, so a change to either rebuilds; otherwise the cache is reused across
runs (the build takes ~30 s on two cores).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="session")
def tiny_models() -> Path:
    """Root folder: ``hf/`` (torch reference weights) and ``onnx/`` (the export)."""
    # The reference models in the tests need the export toolchain anyway. importorskip also
    # turns transformers' ImportError on a tokenizers version it rejects into a skip.
    pytest.importorskip("torch")
    pytest.importorskip("transformers")
    base = Path(os.environ.get("MODISTE_TEST_MODELS_DIR", REPO / ".modiste" / "test-models"))
    from infrastructure.ml.tiny import build_tiny_models, models_cache_key

    target = base / models_cache_key()
    if (target / "onnx" / "manifest.json").is_file():
        return target
    pytest.importorskip("diffusers")
    pytest.importorskip("optimum.exporters.onnx")

    base.mkdir(parents=True, exist_ok=True)
    for stale in base.iterdir():  # builds for older code or toolchains, or interrupted ones
        if stale.is_dir() and not stale.name.startswith("."):
            shutil.rmtree(stale, ignore_errors=True)
    staging = Path(tempfile.mkdtemp(dir=base, prefix=".build-"))
    try:
        build_tiny_models(staging, seed=0)
        try:
            staging.rename(target)
        except OSError:  # another session finished first
            if not (target / "onnx" / "manifest.json").is_file():
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


@pytest.fixture(scope="session")
def export_dir(tiny_models: Path) -> Path:
    return tiny_models / "onnx"


@pytest.fixture(scope="session")
def hf_clip_dir(tiny_models: Path) -> Path:
    return tiny_models / "hf" / "tiny-clip"


@pytest.fixture(scope="session")
def hf_diffusion_dir(tiny_models: Path) -> Path:
    return tiny_models / "hf" / "tiny-diffusion"
