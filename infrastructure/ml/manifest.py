"""The export manifest (``manifest.json``): what was exported, with which hashes.

Runtime-safe (stdlib only). Layout, one file per export folder::

    {
      "format": "modiste-onnx",
      "format_version": 1,
      "clip": {...},        # written by export_clip
      "diffusion": {...}    # written by export_diffusion
    }

Every ONNX file is listed as ``{"path", "sha256", "bytes", "external_data": [...]}`` with
paths relative to the export folder; ``model_hash`` combines every file that can change an
output (graphs, weights, tokenizer, preprocessing, scheduler config).
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any

MANIFEST_NAME = "manifest.json"
FORMAT = "modiste-onnx"
FORMAT_VERSION = 1
DEFAULT_PROVIDERS: tuple[str, ...] = ("CUDAExecutionProvider", "CPUExecutionProvider")


class ManifestError(RuntimeError):
    """The export folder is missing, incomplete or does not match its manifest."""


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    """Hex sha256 of a file, read in chunks (exports can be several GB)."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def combined_hash(parts: dict[str, str]) -> str:
    """One hash over named parts (name -> sha256), independent of insertion order."""
    canonical = json.dumps(dict(sorted(parts.items())), separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def file_entry_hashes(entry: dict[str, Any]) -> dict[str, str]:
    """path -> sha256 for an ONNX file entry and its external data files."""
    out = {entry["path"]: entry["sha256"]}
    for ext in entry.get("external_data", []):
        out[ext["path"]] = ext["sha256"]
    return out


def load_manifest(export_dir: str | Path) -> dict[str, Any]:
    """Read ``manifest.json`` from an export folder."""
    path = Path(export_dir) / MANIFEST_NAME
    if not path.is_file():
        raise ManifestError(f"no {MANIFEST_NAME} in {export_dir}: run `modiste models export`")
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    if data.get("format") != FORMAT or data.get("format_version") != FORMAT_VERSION:
        raise ManifestError(f"{path}: unsupported manifest format {data.get('format_version')!r}")
    return data


def model_section(export_dir: str | Path, kind: str) -> dict[str, Any]:
    """The manifest section for one model kind ("clip" or "diffusion")."""
    manifest = load_manifest(export_dir)
    if kind not in manifest:
        raise ManifestError(f"{export_dir}/{MANIFEST_NAME} has no {kind!r} model")
    section: dict[str, Any] = manifest[kind]
    return section


def verify_files(export_dir: str | Path, hashes: dict[str, str]) -> None:
    """Raise ManifestError unless every file exists and has the recorded sha256."""
    root = Path(export_dir)
    for rel, expected in hashes.items():
        path = root / rel
        if not path.is_file():
            raise ManifestError(f"missing model file {path}")
        actual = sha256_file(path)
        if actual != expected:
            raise ManifestError(f"{path}: sha256 {actual} does not match manifest {expected}")


def update_manifest(export_dir: str | Path, kind: str, section: dict[str, Any]) -> Path:
    """Write (atomically) the section for one model kind, keeping the others."""
    root = Path(export_dir)
    root.mkdir(parents=True, exist_ok=True)
    path = root / MANIFEST_NAME
    data: dict[str, Any] = {"format": FORMAT, "format_version": FORMAT_VERSION}
    if path.is_file():
        old = json.loads(path.read_text(encoding="utf-8"))
        if old.get("format_version") == FORMAT_VERSION:
            data.update(old)
    data[kind] = section
    fd, tmp = tempfile.mkstemp(dir=root, prefix=".manifest-", suffix=".json")
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump(data, fh, indent=2, sort_keys=True)
        fh.write("\n")
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)
    return path
