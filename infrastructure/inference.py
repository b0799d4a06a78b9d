"""The studio's models for one process: CLIP and diffusion, loaded once, on first use.

Where the ONNX export comes from, in order:

1. ``MODISTE_MODELS_DIR``: an export made by ``modiste models export`` (real weights).
2. Otherwise ``<data_dir>/tiny-models/onnx``: tiny randomly initialised models, built once by
   ``build_tiny_models`` the first time they are needed (local mode and tests). They make
   noise images and meaningless similarities; they exist so that every code path runs for
   real without a model hub. Building needs the export toolchain (torch, transformers,
   diffusers, optimum: ``pip install 'modiste[export]'``); with ``MODISTE_TINY_MODELS=never``
   it is refused.

Running the models needs only onnxruntime, numpy, Pillow and tokenizers: this module imports
the export toolchain only inside ``_build_tiny`` (never on the inference path).
"""

from __future__ import annotations

import contextlib
import fcntl
import importlib.util
import io
import os
import shutil
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

# Loaded here, at bootstrap, before anything imports usearch (the vector index): the other
# order crashes the interpreter (see infrastructure/ml/runtime.py).
import onnxruntime  # noqa: F401
import structlog
from PIL import Image

from application.designs import ModelsUnavailableError
from infrastructure.settings import Settings

if TYPE_CHECKING:
    from infrastructure.ml.clip_onnx import OnnxClip
    from infrastructure.ml.diffusion_onnx import OnnxDiffusion

log = structlog.get_logger(__name__)

MANIFEST = "manifest.json"
TINY_DIR = "tiny-models"
EXPORT_TOOLCHAIN = ("torch", "transformers", "diffusers", "optimum")
HOW_TO_PROVIDE_MODELS = (
    "export real models from local Hugging Face folders with "
    "`modiste models export --clip CLIP_DIR --diffusion SD_DIR --out DIR` and set "
    "MODISTE_MODELS_DIR=DIR, or build tiny random models (noise images, for development) "
    "with `modiste models build-tiny --out DIR` and set MODISTE_MODELS_DIR=DIR/onnx; both "
    "need the export toolchain: pip install 'modiste[export]'"
)


def read_pixels(data: bytes) -> npt.NDArray[np.uint8]:
    """Decode JPEG/PNG/WebP bytes to an (H, W, 3) uint8 RGB array."""
    with Image.open(io.BytesIO(data)) as image:
        return np.asarray(image.convert("RGB"), dtype=np.uint8)


def _missing_toolchain() -> list[str]:
    return [name for name in EXPORT_TOOLCHAIN if importlib.util.find_spec(name) is None]


@contextlib.contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    """An exclusive lock shared by every process on this machine (the API and the workers)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


class MlModels:
    """CLIP (ImageEmbedder + TextEmbedder) and diffusion (ImageGenerator), loaded lazily."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._lock = threading.Lock()
        self._clip: OnnxClip | None = None
        self._diffusion: OnnxDiffusion | None = None

    # -- where the models are --------------------------------------------------------------

    @property
    def configured(self) -> bool:
        """True when MODISTE_MODELS_DIR names an export (real models, presumably)."""
        return self.settings.models_dir is not None

    @property
    def tiny_root(self) -> Path:
        return self.settings.data_dir / TINY_DIR

    def export_dir(self) -> Path:
        """The export folder the models load from (it may not exist yet)."""
        if self.settings.models_dir is not None:
            return self.settings.models_dir
        return self.tiny_root / "onnx"

    def check_available(self) -> None:
        """Cheap: raise ModelsUnavailableError unless the models exist or can be built here."""
        export = self.export_dir()
        if self.settings.models_dir is not None:
            if not (export / MANIFEST).is_file():
                raise ModelsUnavailableError(
                    f"MODISTE_MODELS_DIR={export} holds no {MANIFEST}; {HOW_TO_PROVIDE_MODELS}"
                )
            return
        if (export / MANIFEST).is_file():
            return
        if self.settings.studio.tiny_models == "never":
            raise ModelsUnavailableError(
                f"no models: MODISTE_MODELS_DIR is unset and MODISTE_TINY_MODELS=never; "
                f"{HOW_TO_PROVIDE_MODELS}"
            )
        missing = _missing_toolchain()
        if missing:
            raise ModelsUnavailableError(
                "no models: MODISTE_MODELS_DIR is unset and tiny models cannot be built "
                f"here ({', '.join(missing)} not installed); {HOW_TO_PROVIDE_MODELS}"
            )

    def export_ready(self) -> bool:
        """Whether an export exists already (loading it then needs no build)."""
        return (self.export_dir() / MANIFEST).is_file()

    def warm_up(self, *, generator: bool = True) -> None:
        """Load CLIP (and the generator) now, from a background thread at start; a failure
        is logged and surfaces again, as an error, when the model is first needed."""
        try:
            self.clip()
            if generator:
                self.generator()
        except Exception as exc:
            log.error("ml.warm_up_failed", error=f"{type(exc).__name__}: {exc}")

    def _ensure_export(self) -> Path:
        self.check_available()
        export = self.export_dir()
        if not (export / MANIFEST).is_file():
            self._build_tiny()
        return export

    def _build_tiny(self) -> None:
        """Build the tiny models once per data dir, even with several processes starting."""
        with _file_lock(self.settings.data_dir / f".{TINY_DIR}.lock"):
            if (self.tiny_root / "onnx" / MANIFEST).is_file():
                return
            log.warning(
                "ml.building_tiny_models",
                into=str(self.tiny_root),
                note="random weights: generated images are noise and similarities meaningless",
            )
            from infrastructure.ml.tiny import build_tiny_models  # export toolchain (torch)

            staging = Path(tempfile.mkdtemp(dir=self.settings.data_dir, prefix=f".{TINY_DIR}-"))
            try:
                build_tiny_models(staging)
                shutil.rmtree(self.tiny_root, ignore_errors=True)
                os.replace(staging, self.tiny_root)
            finally:
                shutil.rmtree(staging, ignore_errors=True)

    # -- the models --------------------------------------------------------------------------

    def _session_options(self) -> dict[str, Any]:
        studio = self.settings.studio
        return {
            "providers": list(studio.onnx_providers) or None,
            "intra_op_threads": studio.onnx_threads or None,
        }

    def clip(self) -> OnnxClip:
        with self._lock:
            if self._clip is None:
                from infrastructure.ml.clip_onnx import OnnxClip

                export = self._ensure_export()
                self._clip = OnnxClip(
                    export, variant=self.settings.studio.clip_variant, **self._session_options()
                )
                self._log_loaded("clip", export)
            return self._clip

    def generator(self) -> OnnxDiffusion:
        with self._lock:
            if self._diffusion is None:
                from infrastructure.ml.diffusion_onnx import OnnxDiffusion

                export = self._ensure_export()
                self._diffusion = OnnxDiffusion(export, **self._session_options())
                self._log_loaded("diffusion", export)
            return self._diffusion

    def image_embedder(self) -> OnnxClip:
        return self.clip()

    def text_embedder(self) -> OnnxClip:
        return self.clip()

    def loaded(self) -> dict[str, str]:
        """model kind -> model id of what is loaded so far (for health and logs)."""
        out = {}
        if self._clip is not None:
            out["clip"] = self._clip.model_id
        if self._diffusion is not None:
            out["diffusion"] = self._diffusion.model_id
        return out

    def _log_loaded(self, kind: str, export: Path) -> None:
        if self.settings.models_dir is None:
            log.warning(
                "ml.tiny_models_in_use",
                kind=kind,
                export=str(export),
                note="random weights; set MODISTE_MODELS_DIR to real exports for real designs",
            )

    read_pixels = staticmethod(read_pixels)
