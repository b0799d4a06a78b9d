# mypy: disable-error-code="no-untyped-call,attr-defined"
"""Export local Hugging Face model folders to ONNX for the runtime adapters.

Export toolchain only (the ``export`` extra: torch, optimum-onnx, transformers, diffusers,
onnx). Nothing here downloads anything: sources are local folders, loaded with
``local_files_only=True``.

Output layout (``out_dir``)::

    manifest.json                 # see infrastructure.ml.manifest
    clip/vision.onnx              # pixel_values -> image_embeds (projection included)
    clip/text.onnx                # input_ids[, attention_mask] -> text_embeds
    clip/vision.int8.onnx         # optional dynamic int8 variants
    clip/text.int8.onnx
    clip/vocab.json, clip/merges.txt, clip/preprocessor_config.json, ...
    diffusion/text_encoder.onnx   # input_ids -> last_hidden_state
    diffusion/unet.onnx           # sample, timestep, encoder_hidden_states -> out_sample
    diffusion/vae_decoder.onnx    # latent_sample -> sample
    diffusion/scheduler_config.json, diffusion/vocab.json, diffusion/merges.txt, ...
"""

from __future__ import annotations

import json
import shutil
import tempfile
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from importlib import metadata
from pathlib import Path
from typing import Any

import structlog

from infrastructure.ml.manifest import (
    DEFAULT_PROVIDERS,
    combined_hash,
    file_entry_hashes,
    sha256_file,
    update_manifest,
)

log = structlog.get_logger(__name__)

DEFAULT_OPSET = 18
TOKENIZER_FILES = ("vocab.json", "merges.txt")
TOKENIZER_EXTRA_FILES = ("tokenizer_config.json", "special_tokens_map.json")
INT8_OP_TYPES = ("MatMul", "Gemm")
DIFFUSION_COMPONENTS = ("text_encoder", "unet", "vae_decoder")
_PIL_RESAMPLE = {0: "nearest", 1: "lanczos", 2: "bilinear", 3: "bicubic", 4: "box", 5: "hamming"}


def _versions() -> dict[str, str]:
    out: dict[str, str] = {}
    for pkg in ("torch", "transformers", "diffusers", "optimum", "optimum-onnx", "onnx"):
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            continue
    return out


def _model_id(src: Path, config: dict[str, Any]) -> str:
    """The config's hub name when it has one, else the source folder's name."""
    name = str(config.get("_name_or_path") or "")
    if name and not Path(name).is_absolute() and not name.startswith("."):
        return name
    return src.resolve().name


@contextmanager
def _quiet_tracing() -> Iterator[None]:
    """Silence the tracer's known, harmless warnings (shape checks frozen into the graph)."""
    import torch

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", category=torch.jit.TracerWarning)
        warnings.filterwarnings("ignore", message=".*aten::index.*", category=UserWarning)
        warnings.filterwarnings("ignore", category=FutureWarning)
        yield


@contextmanager
def _staging(out_dir: Path, name: str) -> Iterator[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=out_dir, prefix=f".{name}-staging-"))
    try:
        yield tmp
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _replace_dir(staged: Path, final: Path) -> None:
    """Swap a fully written folder into place (old export removed only after success)."""
    old = final.with_name(f".{final.name}-old")
    shutil.rmtree(old, ignore_errors=True)
    if final.exists():
        final.rename(old)
    staged.rename(final)
    shutil.rmtree(old, ignore_errors=True)


def _external_data_locations(path: Path) -> list[str]:
    import onnx
    from onnx.external_data_helper import _get_all_tensors

    model = onnx.load(str(path), load_external_data=False)
    locations: set[str] = set()
    for tensor in _get_all_tensors(model):
        if tensor.data_location == onnx.TensorProto.EXTERNAL:
            for kv in tensor.external_data:
                if kv.key == "location":
                    locations.add(kv.value)
    return sorted(locations)


def _move_onnx(src: Path, dst: Path) -> None:
    """Move an ONNX model and its external-data files (rewritten when the name changes)."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    locations = _external_data_locations(src)
    if not locations or src.name == dst.name:
        for loc in locations:
            shutil.move(str(src.parent / loc), str(dst.parent / loc))
        shutil.move(str(src), str(dst))
        return
    import onnx

    model = onnx.load(str(src), load_external_data=True)
    onnx.save_model(
        model,
        str(dst),
        save_as_external_data=True,
        all_tensors_to_one_file=True,
        location=dst.name + "_data",
        size_threshold=1024,
    )


def _file_entry(root: Path, path: Path) -> dict[str, Any]:
    external = [
        {
            "path": str((path.parent / loc).relative_to(root)),
            "sha256": sha256_file(path.parent / loc),
        }
        for loc in _external_data_locations(path)
    ]
    return {
        "path": str(path.relative_to(root)),
        "sha256": sha256_file(path),
        "bytes": path.stat().st_size,
        "external_data": external,
    }


def _copy_tokenizer(src_dir: Path, dst_dir: Path, root: Path) -> dict[str, Any]:
    """Copy vocab.json + merges.txt (+ configs); return paths, hashes and special tokens."""
    files: dict[str, str] = {}
    hashes: dict[str, str] = {}
    for name in TOKENIZER_FILES + TOKENIZER_EXTRA_FILES:
        src = src_dir / name
        if not src.is_file():
            if name in TOKENIZER_FILES:
                raise FileNotFoundError(f"{src_dir} has no {name}: a CLIP BPE tokenizer is needed")
            continue
        dst = dst_dir / name
        shutil.copyfile(src, dst)
        rel = str(dst.relative_to(root))
        files[name] = rel
        hashes[rel] = sha256_file(dst)
    cfg: dict[str, Any] = {}
    for name in TOKENIZER_EXTRA_FILES:
        if (dst_dir / name).is_file():
            cfg.update(json.loads((dst_dir / name).read_text(encoding="utf-8")))

    def token(key: str, default: str) -> str:
        value = cfg.get(key, default)
        if isinstance(value, dict):  # AddedToken serialised as a dict
            value = value.get("content", default)
        return str(value)

    eos = token("eos_token", "<|endoftext|>")
    return {
        "files": files,
        "hashes": hashes,
        "bos_token": token("bos_token", "<|startoftext|>"),
        "eos_token": eos,
        "pad_token": token("pad_token", eos),
        "unk_token": token("unk_token", eos),
        "lowercase": bool(cfg.get("do_lower_case", True)),
    }


def _image_preprocessing(src: Path) -> dict[str, Any]:
    """CLIP image preprocessing from preprocessor_config.json (CLIPImageProcessor defaults)."""
    path = src / "preprocessor_config.json"
    cfg: dict[str, Any] = json.loads(path.read_text()) if path.is_file() else {}
    size = cfg.get("size", {"shortest_edge": 224})
    if isinstance(size, int):
        size = {"shortest_edge": size}
    if "shortest_edge" not in size:
        raise ValueError(f"{path}: only 'shortest_edge' resizing is supported, got {size}")
    crop = cfg.get("crop_size", {"height": 224, "width": 224})
    if isinstance(crop, int):
        crop = {"height": crop, "width": crop}
    resample = int(cfg.get("resample", 3))
    return {
        "do_resize": bool(cfg.get("do_resize", True)),
        "shortest_edge": int(size["shortest_edge"]),
        "resample": _PIL_RESAMPLE.get(resample, "bicubic"),
        "do_center_crop": bool(cfg.get("do_center_crop", True)),
        "crop_size": [int(crop["height"]), int(crop["width"])],
        "do_rescale": bool(cfg.get("do_rescale", True)),
        "rescale_factor": float(cfg.get("rescale_factor", 1 / 255)),
        "do_normalize": bool(cfg.get("do_normalize", True)),
        "mean": [float(x) for x in cfg.get("image_mean", [0.48145466, 0.4578275, 0.40821073])],
        "std": [float(x) for x in cfg.get("image_std", [0.26862954, 0.26130258, 0.27577711])],
        "do_convert_rgb": bool(cfg.get("do_convert_rgb", True)),
    }


def _clip_onnx_configs(config: Any) -> dict[str, Any]:
    """optimum OnnxConfigs for the two towers, each ending in its projection."""
    from optimum.exporters.onnx.model_configs import (
        CLIPTextWithProjectionOnnxConfig,
        CLIPVisionModelOnnxConfig,
    )

    class VisionTowerConfig(CLIPVisionModelOnnxConfig):  # type: ignore[misc]
        @property
        def outputs(self) -> dict[str, dict[int, str]]:
            return {"image_embeds": {0: "batch_size"}}

    class TextTowerConfig(CLIPTextWithProjectionOnnxConfig):  # type: ignore[misc]
        @property
        def inputs(self) -> dict[str, dict[int, str]]:
            return {
                "input_ids": {0: "batch_size", 1: "sequence_length"},
                "attention_mask": {0: "batch_size", 1: "sequence_length"},
            }

        @property
        def outputs(self) -> dict[str, dict[int, str]]:
            return {"text_embeds": {0: "batch_size"}}

    return {
        "vision": VisionTowerConfig(config.vision_config, task="feature-extraction"),
        "text": TextTowerConfig(config.text_config, task="feature-extraction"),
    }


def _split_clip(model: Any) -> dict[str, Any]:
    """CLIPModel -> {vision: CLIPVisionModelWithProjection, text: CLIPTextModelWithProjection}."""
    from transformers import CLIPTextModelWithProjection, CLIPVisionModelWithProjection

    vision = CLIPVisionModelWithProjection(model.config.vision_config)
    vision.vision_model = model.vision_model
    vision.visual_projection = model.visual_projection
    text = CLIPTextModelWithProjection(model.config.text_config)
    text.text_model = model.text_model
    text.text_projection = model.text_projection
    return {"vision": vision.eval(), "text": text.eval()}


def _quantize_int8(src: Path, dst: Path) -> dict[str, Any]:
    from onnxruntime.quantization import QuantType, quantize_dynamic

    big = bool(_external_data_locations(src))
    quantize_dynamic(
        model_input=str(src),
        model_output=str(dst),
        op_types_to_quantize=list(INT8_OP_TYPES),
        weight_type=QuantType.QInt8,
        per_channel=False,
        use_external_data_format=big,
    )
    return {"method": "dynamic", "weight_type": "QInt8", "op_types": list(INT8_OP_TYPES)}


def export_clip(
    src_dir: str | Path,
    out_dir: str | Path,
    int8: bool = False,
    *,
    opset: int = DEFAULT_OPSET,
    validate: bool = True,
) -> dict[str, Any]:
    """Export a local CLIP folder to ``out_dir/clip/{vision,text}.onnx`` (+ int8 variants).

    Each tower includes its projection and outputs unnormalised ``image_embeds`` /
    ``text_embeds`` (the runtime normalises). Returns the manifest section written.
    """
    from optimum.exporters.onnx.convert import export_models, validate_models_outputs
    from transformers import CLIPConfig, CLIPModel

    src = Path(src_dir)
    out = Path(out_dir)
    started = time.perf_counter()
    raw_config = json.loads((src / "config.json").read_text(encoding="utf-8"))
    config = CLIPConfig.from_pretrained(src, local_files_only=True)
    # Tiny or hand-made configs may lack projection_dim on the sub-configs.
    config.text_config.projection_dim = config.projection_dim
    config.vision_config.projection_dim = config.projection_dim
    model = CLIPModel.from_pretrained(src, config=config, local_files_only=True).eval()
    # Eager attention traces to plain MatMul/Softmax, which every provider and the int8
    # quantiser handle; SDPA adds nothing once exported.
    model.set_attn_implementation("eager")
    towers = _split_clip(model)
    onnx_configs = _clip_onnx_configs(config)
    pairs = {name: (towers[name], onnx_configs[name]) for name in ("vision", "text")}

    with _staging(out, "clip") as stage:
        raw = stage / "raw"
        final = stage / "clip"
        raw.mkdir()
        final.mkdir()
        names = [f"{name}.onnx" for name in pairs]
        with _quiet_tracing():
            _, onnx_outputs = export_models(
                models_and_onnx_configs=pairs, output_dir=raw, opset=opset, output_names=names
            )
        if validate:
            validate_models_outputs(
                models_and_onnx_configs=pairs,
                onnx_named_outputs=onnx_outputs,
                output_dir=raw,
                atol=1e-4,
                onnx_files_subpaths=names,
                use_subprocess=False,
            )
        _move_onnx(raw / "vision.onnx", final / "vision.onnx")
        _move_onnx(raw / "text.onnx", final / "text.onnx")
        quant: dict[str, Any] | None = None
        if int8:
            for tower in ("vision", "text"):
                quant = _quantize_int8(final / f"{tower}.onnx", final / f"{tower}.int8.onnx")
        tok = _copy_tokenizer(src, final, stage)
        preprocessing = _image_preprocessing(src)
        if (src / "preprocessor_config.json").is_file():
            shutil.copyfile(src / "preprocessor_config.json", final / "preprocessor_config.json")
        _replace_dir(final, out / "clip")

    root = out
    clip_dir = out / "clip"
    text_max = int(config.text_config.max_position_embeddings)
    common_parts = {
        **{k: v for k, v in tok["hashes"].items()},
        "image_preprocessing": combined_hash({k: json.dumps(v) for k, v in preprocessing.items()}),
    }

    def variant(suffix: str, quantization: dict[str, Any] | None) -> dict[str, Any]:
        files = {
            tower: _file_entry(root, clip_dir / f"{tower}{suffix}.onnx")
            for tower in ("vision", "text")
        }
        parts = dict(common_parts)
        for entry in files.values():
            parts.update(file_entry_hashes(entry))
        return {"files": files, "quantization": quantization, "model_hash": combined_hash(parts)}

    variants = {"fp32": variant("", None)}
    if int8:
        variants["int8"] = variant(".int8", quant)
    section: dict[str, Any] = {
        "kind": "clip",
        "model_id": _model_id(src, raw_config),
        "source": src.resolve().name,
        "embedding_dim": int(config.projection_dim),
        "model_hash": variants["fp32"]["model_hash"],
        "files": variants["fp32"]["files"],
        "variants": variants,
        "image": {
            **preprocessing,
            "image_size": int(config.vision_config.image_size),
            "input": "pixel_values",
            "output": "image_embeds",
        },
        "text": {
            "max_length": text_max,
            "inputs": ["input_ids", "attention_mask"],
            "output": "text_embeds",
            **{
                k: tok[k] for k in ("bos_token", "eos_token", "pad_token", "unk_token", "lowercase")
            },
        },
        "tokenizer_files": tok["files"],
        "providers": list(DEFAULT_PROVIDERS),
        "opset": opset,
        "exported_with": _versions(),
    }
    update_manifest(out, "clip", section)
    log.info(
        "ml.export.clip",
        model_id=section["model_id"],
        out_dir=str(out),
        int8=int8,
        seconds=round(time.perf_counter() - started, 2),
    )
    return section


def export_diffusion(
    src_dir: str | Path,
    out_dir: str | Path,
    *,
    opset: int = DEFAULT_OPSET,
    validate: bool = True,
) -> dict[str, Any]:
    """Export a local Stable-Diffusion-style folder to ``out_dir/diffusion/``.

    Writes ``text_encoder.onnx``, ``unet.onnx``, ``vae_decoder.onnx``, the scheduler config
    and the tokenizer files, and returns the manifest section (with the combined
    ``model_hash`` that provenance records).
    """
    from diffusers import StableDiffusionPipeline
    from optimum.exporters.onnx.convert import export_models, validate_models_outputs
    from optimum.exporters.utils import get_diffusion_models_for_export

    src = Path(src_dir)
    out = Path(out_dir)
    started = time.perf_counter()
    index = json.loads((src / "model_index.json").read_text(encoding="utf-8"))
    for part in ("text_encoder", "unet", "vae", "tokenizer", "scheduler"):
        if part not in index:
            raise ValueError(
                f"{src}: model_index.json has no {part!r}; not a Stable Diffusion folder"
            )
    pipe = StableDiffusionPipeline.from_pretrained(
        src, local_files_only=True, safety_checker=None, requires_safety_checker=False
    )
    pipe.set_progress_bar_config(disable=True)
    exportable = get_diffusion_models_for_export(pipe, int_dtype="int64", float_dtype="fp32")
    # The runtime is text-to-image only: no VAE encoder.
    pairs = {name: exportable[name] for name in DIFFUSION_COMPONENTS}
    unet_cfg = dict(pipe.unet.config)
    vae_cfg = dict(pipe.vae.config)
    text_max = int(pipe.text_encoder.config.max_position_embeddings)

    with _staging(out, "diffusion") as stage:
        raw = stage / "raw"
        final = stage / "diffusion"
        raw.mkdir()
        final.mkdir()
        names = [f"{name}.onnx" for name in pairs]
        with _quiet_tracing():
            _, onnx_outputs = export_models(
                models_and_onnx_configs=pairs, output_dir=raw, opset=opset, output_names=names
            )
        if validate:
            # Random weights give large activations: a loose tolerance, reported not fatal.
            validate_models_outputs(
                models_and_onnx_configs=pairs,
                onnx_named_outputs=onnx_outputs,
                output_dir=raw,
                atol=1e-3,
                onnx_files_subpaths=names,
                use_subprocess=False,
            )
        for name in names:
            _move_onnx(raw / name, final / name)
        shutil.copyfile(
            src / "scheduler" / "scheduler_config.json", final / "scheduler_config.json"
        )
        tok = _copy_tokenizer(src / "tokenizer", final, stage)
        _replace_dir(final, out / "diffusion")

    diff_dir = out / "diffusion"
    files = {comp: _file_entry(out, diff_dir / f"{comp}.onnx") for comp in DIFFUSION_COMPONENTS}
    scheduler_rel = "diffusion/scheduler_config.json"
    scheduler_cfg = json.loads((out / scheduler_rel).read_text(encoding="utf-8"))
    parts: dict[str, str] = dict(tok["hashes"])
    parts[scheduler_rel] = sha256_file(out / scheduler_rel)
    for entry in files.values():
        parts.update(file_entry_hashes(entry))

    vae_scale = 2 ** (len(vae_cfg["block_out_channels"]) - 1)
    unet_down = 2 ** (len(unet_cfg["down_block_types"]) - 1)
    sample = unet_cfg["sample_size"]
    sample = sample if isinstance(sample, int) else int(sample[0])
    default_size = sample * vae_scale
    section: dict[str, Any] = {
        "kind": "diffusion",
        "model_id": _model_id(src, index),
        "source": src.resolve().name,
        "model_hash": combined_hash(parts),
        "files": files,
        "scheduler": {
            "config": scheduler_rel,
            "source_class": scheduler_cfg.get("_class_name"),
            "runtime": "ddim",
        },
        "tokenizer_files": tok["files"],
        "text": {
            "max_length": text_max,
            **{
                k: tok[k] for k in ("bos_token", "eos_token", "pad_token", "unk_token", "lowercase")
            },
        },
        "latent": {
            "channels": int(unet_cfg["in_channels"]),
            "vae_scale_factor": vae_scale,
            "scaling_factor": float(vae_cfg.get("scaling_factor", 0.18215)),
            "shift_factor": vae_cfg.get("shift_factor"),
        },
        "size": {
            "default": [default_size, default_size],
            "multiple": vae_scale * unet_down,
            "min": vae_scale * unet_down,
            "max": default_size * 2,
        },
        "providers": list(DEFAULT_PROVIDERS),
        "opset": opset,
        "exported_with": _versions(),
    }
    update_manifest(out, "diffusion", section)
    log.info(
        "ml.export.diffusion",
        model_id=section["model_id"],
        model_hash=section["model_hash"],
        out_dir=str(out),
        seconds=round(time.perf_counter() - started, 2),
    )
    return section
