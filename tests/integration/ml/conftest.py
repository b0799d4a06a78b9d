"""Tiny random CLIP + diffusion models, built once with the production export code.

Built into ``.modiste/test-models/<key>`` where the key hashes the export code and the
toolchain versions, so a change to either rebuilds; otherwise the cache is reused across
runs (the build takes ~30 s on two cores).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from importlib import metadata
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
ML = REPO / "infrastructure" / "ml"
TOOLCHAIN = ("torch", "transformers", "diffusers", "optimum-onnx", "onnx", "onnxruntime-gpu")


def _cache_key() -> str:
    digest = hashlib.sha256()
    for name in ("tiny.py", "export.py", "manifest.py"):
        digest.update((ML / name).read_bytes())
    for pkg in TOOLCHAIN:
        try:
            digest.update(f"{pkg}={metadata.version(pkg)}".encode())
        except metadata.PackageNotFoundError:
            digest.update(f"{pkg}=none".encode())
    return digest.hexdigest()[:16]


@pytest.fixture(scope="session")
def tiny_models() -> Path:
    """Root folder: ``hf/`` (torch reference weights) and ``onnx/`` (the export)."""
    pytest.importorskip("torch")
    pytest.importorskip("diffusers")
    pytest.importorskip("optimum.exporters.onnx")
    base = Path(os.environ.get("MODISTE_TEST_MODELS_DIR", REPO / ".modiste" / "test-models"))
    target = base / _cache_key()
    if (target / "onnx" / "manifest.json").is_file():
        return target
    from infrastructure.ml.tiny import build_tiny_models

    base.mkdir(parents=True, exist_ok=True)
    shutil.rmtree(target, ignore_errors=True)  # an interrupted earlier build
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
