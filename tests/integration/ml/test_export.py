"""The export folder and its manifest: layout, hashes, tamper detection."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.integration.ml import skip_if_onnxruntime_cannot_load

skip_if_onnxruntime_cannot_load()

from infrastructure.ml.clip_onnx import OnnxClip  # noqa: E402
from infrastructure.ml.diffusion_onnx import OnnxDiffusion  # noqa: E402
from infrastructure.ml.manifest import (  # noqa: E402
    ManifestError,
    combined_hash,
    file_entry_hashes,
    sha256_file,
)

pytestmark = pytest.mark.ml


@pytest.fixture(scope="module")
def manifest(export_dir: Path) -> dict:  # type: ignore[type-arg]
    return json.loads((export_dir / "manifest.json").read_text())


def test_layout(export_dir: Path, manifest: dict) -> None:  # type: ignore[type-arg]
    for rel in (
        "clip/vision.onnx",
        "clip/text.onnx",
        "clip/vision.int8.onnx",
        "clip/text.int8.onnx",
        "clip/vocab.json",
        "clip/merges.txt",
        "diffusion/text_encoder.onnx",
        "diffusion/unet.onnx",
        "diffusion/vae_decoder.onnx",
        "diffusion/scheduler_config.json",
        "diffusion/vocab.json",
        "diffusion/merges.txt",
    ):
        assert (export_dir / rel).is_file(), rel
    assert not (export_dir / "diffusion" / "vae_encoder.onnx").exists()
    clip = manifest["clip"]
    assert clip["model_id"] == "tiny-clip"
    assert clip["embedding_dim"] == 16
    assert clip["image"]["crop_size"] == [32, 32]
    assert clip["image"]["resample"] == "bicubic"
    assert clip["text"]["max_length"] == 77
    assert clip["variants"]["int8"]["quantization"]["method"] == "dynamic"
    assert clip["variants"]["fp32"]["quantization"] is None
    assert clip["providers"] == ["CUDAExecutionProvider", "CPUExecutionProvider"]
    diffusion = manifest["diffusion"]
    assert diffusion["model_id"] == "tiny-diffusion"
    assert diffusion["latent"]["vae_scale_factor"] == 8
    assert diffusion["size"]["default"] == [64, 64]
    assert diffusion["scheduler"]["source_class"] == "DDIMScheduler"


def test_manifest_hashes_match_files(export_dir: Path, manifest: dict) -> None:  # type: ignore[type-arg]
    entries = [
        *manifest["clip"]["variants"]["fp32"]["files"].values(),
        *manifest["clip"]["variants"]["int8"]["files"].values(),
        *manifest["diffusion"]["files"].values(),
    ]
    for entry in entries:
        for rel, digest in file_entry_hashes(entry).items():
            assert sha256_file(export_dir / rel) == digest, rel
        assert (export_dir / entry["path"]).stat().st_size == entry["bytes"]


def test_diffusion_model_hash_covers_every_input(export_dir: Path, manifest: dict) -> None:  # type: ignore[type-arg]
    section = manifest["diffusion"]
    parts: dict[str, str] = {}
    for entry in section["files"].values():
        parts.update(file_entry_hashes(entry))
    for rel in [*section["tokenizer_files"].values(), section["scheduler"]["config"]]:
        parts[rel] = sha256_file(export_dir / rel)
    assert combined_hash(parts) == section["model_hash"]


def test_verify_hashes_detects_a_tampered_file(export_dir: Path, tmp_path: Path) -> None:
    copy = tmp_path / "export"
    shutil.copytree(export_dir, copy)
    OnnxClip(copy, providers=["CPUExecutionProvider"], verify_hashes=True)
    OnnxDiffusion(copy, providers=["CPUExecutionProvider"], verify_hashes=True)
    with (copy / "diffusion" / "unet.onnx").open("ab") as fh:
        fh.write(b"\0")
    with pytest.raises(ManifestError, match="does not match manifest"):
        OnnxDiffusion(copy, providers=["CPUExecutionProvider"], verify_hashes=True)


def test_missing_manifest_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ManifestError, match=r"no manifest\.json"):
        OnnxClip(tmp_path)


def test_runtime_adapters_do_not_import_torch() -> None:
    import subprocess
    import sys

    code = (
        "import sys, infrastructure.ml.clip_onnx, infrastructure.ml.diffusion_onnx\n"
        "heavy = {'torch', 'transformers', 'diffusers', 'optimum', 'onnx'} & set(sys.modules)\n"
        "assert not heavy, heavy\n"
    )
    repo = Path(__file__).resolve().parents[3]
    subprocess.run([sys.executable, "-c", code], check=True, cwd=repo)


def test_external_data_is_moved_renamed_and_hashed(export_dir: Path, tmp_path: Path) -> None:
    """Models over 2 GB keep weights in a side file; it must follow the model and be hashed."""
    onnx = pytest.importorskip("onnx")
    import numpy as np
    import onnxruntime as ort

    from infrastructure.ml.export import _file_entry, _move_onnx

    src = tmp_path / "raw" / "model.onnx"
    src.parent.mkdir()
    model = onnx.load(str(export_dir / "clip" / "text.onnx"))
    onnx.save_model(
        model, str(src), save_as_external_data=True, location="model.onnx_data", size_threshold=0
    )
    dst = tmp_path / "final" / "text.onnx"
    _move_onnx(src, dst)
    assert (tmp_path / "final" / "text.onnx_data").is_file()
    entry = _file_entry(tmp_path, dst)
    assert [e["path"] for e in entry["external_data"]] == ["final/text.onnx_data"]
    assert entry["external_data"][0]["sha256"] == sha256_file(tmp_path / "final" / "text.onnx_data")

    ids = np.full((1, 77), 0, dtype=np.int64)
    feeds = {"input_ids": ids, "attention_mask": np.ones_like(ids)}
    original = ort.InferenceSession(str(export_dir / "clip" / "text.onnx")).run(None, feeds)[0]
    moved = ort.InferenceSession(str(dst)).run(None, feeds)[0]
    np.testing.assert_array_equal(original, moved)
