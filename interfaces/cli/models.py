"""`modiste models ...`: export local Hugging Face models to ONNX, or build tiny random ones.

Both need the export toolchain (``pip install 'modiste[export]'``: torch, transformers,
diffusers, optimum-onnx, onnx); the running system then needs only onnxruntime. Nothing is
downloaded: sources are local folders.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, NoReturn

import typer

models_app = typer.Typer(
    name="models",
    help="Export models to ONNX for the studio and search (needs the export extra).",
    no_args_is_help=True,
)

TOOLCHAIN_HINT = "install the export toolchain first: pip install 'modiste[export]'"


def _fail(message: str, code: int = 2) -> NoReturn:
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
    raise typer.Exit(code)


def _summary(out: Path) -> None:
    manifest = json.loads((out / "manifest.json").read_text())
    for kind in ("clip", "diffusion"):
        section = manifest.get(kind)
        if section:
            extra = ""
            if kind == "clip":
                variants = ", ".join(sorted(section.get("variants", {}))) or "fp32"
                extra = f", {section.get('embedding_dim')} dimensions, variants: {variants}"
            typer.echo(
                f"  {kind:<9} {section['model_id']}  hash {section['model_hash'][:16]}…{extra}"
            )


@models_app.command("export")
def export(
    out: Annotated[Path, typer.Option("--out", help="Export folder (MODISTE_MODELS_DIR)")],
    clip: Annotated[
        Path | None, typer.Option("--clip", help="Local Hugging Face CLIP folder")
    ] = None,
    diffusion: Annotated[
        Path | None,
        typer.Option("--diffusion", help="Local Stable-Diffusion-style pipeline folder"),
    ] = None,
    int8: Annotated[
        bool, typer.Option("--int8", help="Also write a dynamically quantised int8 CLIP")
    ] = False,
) -> None:
    """Export CLIP and/or a diffusion pipeline to ONNX with a manifest of hashes.

    Point MODISTE_MODELS_DIR at OUT afterwards (MODISTE_CLIP_VARIANT=int8 picks the int8
    CLIP). Exporting into an existing folder replaces that model and keeps the other.
    """
    if clip is None and diffusion is None:
        _fail("give --clip DIR, --diffusion DIR, or both")
    for option, folder in (("--clip", clip), ("--diffusion", diffusion)):
        if folder is not None and not folder.is_dir():
            _fail(f"{option} {folder} is not a folder")
    try:
        from infrastructure.ml.export import export_clip, export_diffusion
    except ImportError as exc:
        _fail(f"{exc}; {TOOLCHAIN_HINT}")
    out = out.resolve()
    try:
        if clip is not None:
            typer.echo(f"exporting CLIP from {clip} …", err=True)
            export_clip(clip, out, int8=int8)
        if diffusion is not None:
            typer.echo(f"exporting diffusion from {diffusion} …", err=True)
            export_diffusion(diffusion, out)
    except ImportError as exc:
        _fail(f"{exc}; {TOOLCHAIN_HINT}")
    except (OSError, ValueError) as exc:
        _fail(f"export failed: {exc}", code=1)
    typer.echo(f"exported to {out}")
    _summary(out)
    typer.echo(f"use it with: MODISTE_MODELS_DIR={out}")


@models_app.command("build-tiny")
def build_tiny(
    out: Annotated[Path, typer.Option("--out", help="Folder to build into")],
    seed: Annotated[int, typer.Option(help="Weight initialisation seed")] = 0,
) -> None:
    """Build tiny randomly initialised CLIP and diffusion models through the export code.

    For development and tests only: their images are noise and their similarities mean
    nothing. Writes OUT/hf (the torch models) and OUT/onnx (the export to use).
    """
    try:
        from infrastructure.ml.tiny import build_tiny_models
    except ImportError as exc:
        _fail(f"{exc}; {TOOLCHAIN_HINT}")
    out = out.resolve()
    typer.echo(f"building tiny random models into {out} …", err=True)
    onnx_dir = Path(build_tiny_models(out, seed=seed))
    typer.echo(f"built {onnx_dir}")
    _summary(onnx_dir)
    typer.echo(f"use it with: MODISTE_MODELS_DIR={onnx_dir}   (random weights: noise images)")
