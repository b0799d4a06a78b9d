# mypy: disable-error-code="no-untyped-call,attr-defined"
"""Randomly initialised CLIP and Stable-Diffusion-like models, built locally (no hub).

The tests and benchmarks need real models to run real ONNX graphs, but no model hub is
reachable. These builders create Hugging Face folders with random weights (``out_dir/hf/``)
and export them with the production export code (``out_dir/onnx/``). The outputs mean
nothing; the shapes, file layout and code paths are the real ones.

Export toolchain only: imports torch, transformers and diffusers.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import re
import time
from collections import Counter
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import structlog

from infrastructure.ml.export import export_clip, export_diffusion

log = structlog.get_logger(__name__)

CLIP_MEAN = [0.48145466, 0.4578275, 0.40821073]
CLIP_STD = [0.26862954, 0.26130258, 0.27577711]

#: A few hundred words from the domain, the corpus the tiny BPE vocabulary is learnt from.
_CORPUS = (
    "a red silk evening gown with a long train and pearl buttons . "
    "blue denim jacket oversized with brass studs , worn over a white cotton t-shirt ; "
    "black leather boots for winter , knee high , with a chunky heel . "
    "linen summer dress in pastel green , floral print , short sleeves . "
    "tailored wool suit , charcoal grey , double breasted , slim trousers . "
    "knitted cashmere sweater in cream , cable pattern , turtle neck . "
    "pleated midi skirt , navy , satin finish , high waist . "
    "sneakers with a white sole and neon laces ; streetwear hoodie with graphic print . "
    "velvet blazer , emerald , gold embroidery ; trench coat in beige with a belt . "
    "minimalist design , avant garde , haute couture , ready to wear , sustainable fabric . "
    "photo of a model on the runway , studio lighting , fashion editorial , 4k , detailed . "
    "blurry , low quality , watermark , text , deformed , ugly , bad anatomy ."
)


def bytes_to_unicode() -> dict[int, str]:
    """GPT-2/CLIP byte-to-printable-character table used by byte-level BPE."""
    bs = (
        list(range(ord("!"), ord("~") + 1))
        + list(range(ord("¡"), ord("¬") + 1))
        + list(range(ord("®"), ord("ÿ") + 1))
    )
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, [chr(c) for c in cs], strict=True))


def write_clip_bpe_vocab(out_dir: Path, num_merges: int = 300) -> tuple[Path, Path]:
    """Learn a small CLIP-style byte-level BPE from the built-in corpus.

    Writes ``vocab.json`` and ``merges.txt`` in the exact layout of OpenAI's CLIP tokenizer
    (byte symbols, byte symbols + ``</w>``, merged tokens, then the two special tokens), so
    that ``transformers.CLIPTokenizer`` and the ``tokenizers`` package both load them.
    """
    byte_chars = list(bytes_to_unicode().values())
    # The CLIP pre-tokeniser pattern, ASCII edition (the corpus is ASCII).
    pattern = re.compile(r"""'s|'t|'re|'ve|'m|'ll|'d|[a-z]+|[0-9]|[^\sa-z0-9]+""")
    b2u = bytes_to_unicode()
    words = Counter(
        tuple(b2u[b] for b in token.encode("utf-8")) for token in pattern.findall(_CORPUS.lower())
    )
    # Each word is a sequence of symbols; the last carries the end-of-word marker.
    corpus: dict[tuple[str, ...], int] = {(*w[:-1], w[-1] + "</w>"): c for w, c in words.items()}
    merges: list[tuple[str, str]] = []
    for _ in range(num_merges):
        pairs: Counter[tuple[str, str]] = Counter()
        for word, count in corpus.items():
            for a, b in itertools.pairwise(word):
                pairs[(a, b)] += count
        if not pairs:
            break
        best = min(pairs, key=lambda p: (-pairs[p], p))  # deterministic tie-break
        merges.append(best)
        merged: dict[tuple[str, ...], int] = {}
        for word, count in corpus.items():
            out: list[str] = []
            i = 0
            while i < len(word):
                if i < len(word) - 1 and (word[i], word[i + 1]) == best:
                    out.append(word[i] + word[i + 1])
                    i += 2
                else:
                    out.append(word[i])
                    i += 1
            merged[tuple(out)] = merged.get(tuple(out), 0) + count
        corpus = merged

    tokens = byte_chars + [c + "</w>" for c in byte_chars] + ["".join(m) for m in merges]
    tokens += ["<|startoftext|>", "<|endoftext|>"]
    vocab: dict[str, int] = {}
    for tok in tokens:
        vocab.setdefault(tok, len(vocab))
    out_dir.mkdir(parents=True, exist_ok=True)
    vocab_path = out_dir / "vocab.json"
    merges_path = out_dir / "merges.txt"
    vocab_path.write_text(json.dumps(vocab, ensure_ascii=False), encoding="utf-8")
    merges_path.write_text(
        "#version: 0.2\n" + "\n".join(f"{a} {b}" for a, b in merges) + "\n", encoding="utf-8"
    )
    return vocab_path, merges_path


def _clip_tokenizer(folder: Path, max_length: int) -> Any:
    from transformers import CLIPTokenizer

    vocab_path, merges_path = write_clip_bpe_vocab(folder)
    return CLIPTokenizer(
        vocab_file=str(vocab_path),
        merges_file=str(merges_path),
        model_max_length=max_length,
        pad_token="<|endoftext|>",  # noqa: S106 - a token, not a password
    )


@dataclass(frozen=True)
class ClipShape:
    """Dimensions of a CLIP model (text and vision towers)."""

    text_hidden: int
    text_layers: int
    text_heads: int
    vision_hidden: int
    vision_layers: int
    vision_heads: int
    image_size: int
    patch_size: int
    projection_dim: int
    max_positions: int = 77


@dataclass(frozen=True)
class DiffusionShape:
    """Dimensions of a Stable-Diffusion-like pipeline."""

    unet_channels: tuple[int, ...]
    unet_layers_per_block: int
    attention_head_dim: int
    cross_attention_dim: int
    text_hidden: int
    text_layers: int
    text_heads: int
    vae_channels: tuple[int, ...]
    sample_size: int  # latent side; image side = sample_size * 2 ** (len(vae_channels) - 1)
    norm_num_groups: int = 8


TINY_CLIP = ClipShape(32, 2, 2, 32, 2, 2, image_size=32, patch_size=8, projection_dim=16)
TINY_DIFFUSION = DiffusionShape(
    unet_channels=(16, 32),
    unet_layers_per_block=1,
    attention_head_dim=8,
    cross_attention_dim=32,
    text_hidden=32,
    text_layers=2,
    text_heads=2,
    vae_channels=(8, 8, 16, 16),
    sample_size=8,
)
#: CLIP ViT-B/32 dimensions (random weights): what the benchmark measures.
BENCH_CLIP = ClipShape(512, 12, 8, 768, 12, 12, image_size=224, patch_size=32, projection_dim=512)
#: SD-1.x-like depth (4 UNet levels, 2 layers each, 8 VAE scale) with narrower channels.
BENCH_DIFFUSION = DiffusionShape(
    unet_channels=(64, 128, 256, 256),
    unet_layers_per_block=2,
    attention_head_dim=8,
    cross_attention_dim=512,
    text_hidden=512,
    text_layers=6,
    text_heads=8,
    vae_channels=(32, 64, 128, 128),
    sample_size=16,
    norm_num_groups=32,
)


def build_clip_folder(out_dir: Path, shape: ClipShape, seed: int = 0) -> Path:
    """Save a randomly initialised ``CLIPModel`` + tokenizer + image processor to out_dir."""
    import torch
    from transformers import CLIPConfig, CLIPImageProcessor, CLIPModel

    torch.manual_seed(seed)
    tokenizer = _clip_tokenizer(out_dir, shape.max_positions)
    text_cfg: dict[str, Any] = {
        "vocab_size": len(tokenizer.get_vocab()),
        "hidden_size": shape.text_hidden,
        "intermediate_size": shape.text_hidden * 4,
        "num_hidden_layers": shape.text_layers,
        "num_attention_heads": shape.text_heads,
        "max_position_embeddings": shape.max_positions,
        "projection_dim": shape.projection_dim,
        "bos_token_id": tokenizer.bos_token_id,
        "eos_token_id": tokenizer.eos_token_id,
        "pad_token_id": tokenizer.pad_token_id,
    }
    vision_cfg: dict[str, Any] = {
        "hidden_size": shape.vision_hidden,
        "intermediate_size": shape.vision_hidden * 4,
        "num_hidden_layers": shape.vision_layers,
        "num_attention_heads": shape.vision_heads,
        "image_size": shape.image_size,
        "patch_size": shape.patch_size,
        "projection_dim": shape.projection_dim,
    }
    config = CLIPConfig(
        text_config=text_cfg, vision_config=vision_cfg, projection_dim=shape.projection_dim
    )
    model = CLIPModel(config).eval()
    model.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)
    CLIPImageProcessor(
        size={"shortest_edge": shape.image_size},
        crop_size={"height": shape.image_size, "width": shape.image_size},
        image_mean=CLIP_MEAN,
        image_std=CLIP_STD,
    ).save_pretrained(out_dir)
    return out_dir


def build_diffusion_folder(out_dir: Path, shape: DiffusionShape, seed: int = 0) -> Path:
    """Save a randomly initialised Stable-Diffusion-like pipeline (DDIM) to out_dir."""
    import torch
    from diffusers import (
        AutoencoderKL,
        DDIMScheduler,
        StableDiffusionPipeline,
        UNet2DConditionModel,
    )
    from transformers import CLIPTextConfig, CLIPTextModel

    torch.manual_seed(seed)
    out_dir.mkdir(parents=True, exist_ok=True)
    tok_dir = out_dir / "_tokenizer_src"
    tokenizer = _clip_tokenizer(tok_dir, 77)
    n_levels = len(shape.unet_channels)
    unet = UNet2DConditionModel(
        sample_size=shape.sample_size,
        in_channels=4,
        out_channels=4,
        block_out_channels=shape.unet_channels,
        layers_per_block=shape.unet_layers_per_block,
        down_block_types=("CrossAttnDownBlock2D",) * (n_levels - 1) + ("DownBlock2D",),
        up_block_types=("UpBlock2D",) + ("CrossAttnUpBlock2D",) * (n_levels - 1),
        cross_attention_dim=shape.cross_attention_dim,
        attention_head_dim=shape.attention_head_dim,
        norm_num_groups=shape.norm_num_groups,
    )
    n_vae = len(shape.vae_channels)
    vae = AutoencoderKL(
        in_channels=3,
        out_channels=3,
        down_block_types=("DownEncoderBlock2D",) * n_vae,
        up_block_types=("UpDecoderBlock2D",) * n_vae,
        block_out_channels=shape.vae_channels,
        layers_per_block=1,
        latent_channels=4,
        norm_num_groups=shape.norm_num_groups,
        sample_size=shape.sample_size * 2 ** (n_vae - 1),
    )
    text_encoder = CLIPTextModel(
        CLIPTextConfig(
            vocab_size=len(tokenizer.get_vocab()),
            hidden_size=shape.text_hidden,
            intermediate_size=shape.text_hidden * 4,
            num_hidden_layers=shape.text_layers,
            num_attention_heads=shape.text_heads,
            max_position_embeddings=77,
            projection_dim=shape.cross_attention_dim,
            bos_token_id=tokenizer.bos_token_id,
            eos_token_id=tokenizer.eos_token_id,
            pad_token_id=tokenizer.pad_token_id,
        )
    )
    scheduler = DDIMScheduler(
        num_train_timesteps=1000,
        beta_start=0.00085,
        beta_end=0.012,
        beta_schedule="scaled_linear",
        clip_sample=False,
        set_alpha_to_one=False,
        steps_offset=1,
        prediction_type="epsilon",
        timestep_spacing="leading",
    )
    pipe = StableDiffusionPipeline(
        vae=vae,
        text_encoder=text_encoder,
        tokenizer=tokenizer,
        unet=unet,
        scheduler=scheduler,
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )
    pipe.save_pretrained(out_dir)
    for f in tok_dir.iterdir():
        f.unlink()
    tok_dir.rmdir()
    return out_dir


TOOLCHAIN = ("torch", "transformers", "diffusers", "optimum-onnx", "onnx", "onnxruntime-gpu")


def models_cache_key() -> str:
    """Key for caching built models: the export code and the toolchain versions."""
    digest = hashlib.sha256()
    here = Path(__file__).resolve().parent
    for name in ("tiny.py", "export.py", "manifest.py"):
        digest.update((here / name).read_bytes())
    for pkg in TOOLCHAIN:
        try:
            digest.update(f"{pkg}={metadata.version(pkg)}".encode())
        except metadata.PackageNotFoundError:
            digest.update(f"{pkg}=none".encode())
    return digest.hexdigest()[:16]


def _build(
    out_dir: str | Path,
    clip: ClipShape,
    diffusion: DiffusionShape,
    names: tuple[str, str],
    seed: int,
    int8: bool,
    validate: bool,
) -> Path:
    out = Path(out_dir)
    started = time.perf_counter()
    hf = out / "hf"
    onnx_dir = out / "onnx"
    clip_src = build_clip_folder(hf / names[0], clip, seed=seed)
    diff_src = build_diffusion_folder(hf / names[1], diffusion, seed=seed)
    export_clip(clip_src, onnx_dir, int8=int8, validate=validate)
    export_diffusion(diff_src, onnx_dir, validate=validate)
    log.info("ml.models_built", out_dir=str(out), seconds=round(time.perf_counter() - started, 2))
    return onnx_dir


def build_tiny_models(out_dir: str | Path, seed: int = 0) -> Path:
    """Build tiny random CLIP + diffusion models; return the ONNX export folder.

    ``out_dir/hf/{tiny-clip,tiny-diffusion}`` hold the Hugging Face folders (torch weights,
    used by tests as the reference), ``out_dir/onnx`` the export (``manifest.json``,
    ``clip/``, ``diffusion/``), including the int8 CLIP variant.
    """
    names = ("tiny-clip", "tiny-diffusion")
    return _build(out_dir, TINY_CLIP, TINY_DIFFUSION, names, seed, int8=True, validate=True)


def build_benchmark_models(out_dir: str | Path, seed: int = 0, validate: bool = False) -> Path:
    """Build random models with realistic shapes (CLIP ViT-B/32, SD-like UNet depth).

    For benchmarks only: the weights are random, so only speed is meaningful. optimum's
    export validation is off by default to keep the build (~2-3 min on 2 cores) bounded;
    the tests validate the same export code on the tiny models.
    """
    names = ("bench-clip-vit-b32", "bench-diffusion")
    return _build(out_dir, BENCH_CLIP, BENCH_DIFFUSION, names, seed, int8=True, validate=validate)
