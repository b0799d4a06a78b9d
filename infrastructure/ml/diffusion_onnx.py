"""Text-to-image on ONNX Runtime (the ImageGenerator port).

Tokenise -> text encoder (prompt and negative prompt, for classifier-free guidance) ->
UNet denoising loop with a numpy DDIM sampler -> VAE decode -> PNG. The initial latents come
from ``numpy.random.Generator(PCG64(seed))``, so request + model hash reproduce the PNG byte
for byte on the same execution provider (see docs/adr/0010-onnx-inference-runtime.md).

Runtime-safe: onnxruntime, numpy, Pillow and tokenizers; no torch, no diffusers.
"""

from __future__ import annotations

import io
import json
import math
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import structlog
from PIL import Image

from application.ports import GeneratedImage, GenerationRequest
from infrastructure.ml.manifest import file_entry_hashes, model_section, verify_files
from infrastructure.ml.runtime import ClipBpeTokenizer, create_session, ort_dtype, session_io
from infrastructure.ml.schedulers import DdimScheduler

log = structlog.get_logger(__name__)

MIN_STEPS, MAX_STEPS = 1, 100
MIN_GUIDANCE, MAX_GUIDANCE = 0.0, 20.0
MAX_SEED = 2**63 - 1


class OnnxDiffusion:
    """Stable-Diffusion-style generator from an export folder (manifest.json + diffusion/)."""

    def __init__(
        self,
        export_dir: str | Path,
        *,
        providers: Sequence[str] | None = None,
        intra_op_threads: int | None = None,
        verify_hashes: bool = False,
    ) -> None:
        self.export_dir = Path(export_dir)
        section = model_section(self.export_dir, "diffusion")
        if verify_hashes:
            hashes: dict[str, str] = {}
            for entry in section["files"].values():
                hashes.update(file_entry_hashes(entry))
            verify_files(self.export_dir, hashes)
        self.section = section
        self.model_id: str = section["model_id"]
        self.model_hash: str = section["model_hash"]
        files = section["files"]
        self._text_encoder = create_session(
            self.export_dir / files["text_encoder"]["path"], providers, intra_op_threads
        )
        self._unet = create_session(
            self.export_dir / files["unet"]["path"], providers, intra_op_threads
        )
        self._vae = create_session(
            self.export_dir / files["vae_decoder"]["path"], providers, intra_op_threads
        )
        self.providers: list[str] = self._unet.get_providers()
        unet_inputs, _ = session_io(self._unet)
        self._timestep_dtype = ort_dtype(unet_inputs["timestep"])
        self._timestep_rank = len(
            next(i for i in self._unet.get_inputs() if i.name == "timestep").shape
        )
        te_inputs, _ = session_io(self._text_encoder)
        self._te_ids_dtype = ort_dtype(te_inputs["input_ids"])
        self.tokenizer = ClipBpeTokenizer.from_section(self.export_dir, section)
        scheduler_cfg = json.loads(
            (self.export_dir / section["scheduler"]["config"]).read_text(encoding="utf-8")
        )
        self.scheduler_config: dict[str, Any] = scheduler_cfg
        DdimScheduler(scheduler_cfg)  # fail at load time on an unsupported schedule
        latent = section["latent"]
        self._latent_channels = int(latent["channels"])
        self._vae_scale = int(latent["vae_scale_factor"])
        self._scaling = float(latent["scaling_factor"])
        shift = latent.get("shift_factor")
        self._shift = float(shift) if shift is not None else 0.0
        size = section["size"]
        self.default_size: tuple[int, int] = (int(size["default"][0]), int(size["default"][1]))
        self.size_multiple = max(8, int(size["multiple"]))
        self.min_size, self.max_size = int(size["min"]), int(size["max"])
        self._lock = threading.Lock()
        log.info(
            "ml.diffusion.loaded",
            model_id=self.model_id,
            model_hash=self.model_hash,
            providers=self.providers,
            default_size=self.default_size,
        )

    def validate(self, request: GenerationRequest) -> None:
        """Raise ValueError, with a message fit for an API client, on an invalid request."""
        if not isinstance(request.prompt, str) or not isinstance(request.negative_prompt, str):
            raise ValueError("prompt and negative_prompt must be strings")
        if isinstance(request.seed, bool) or not isinstance(request.seed, int):
            raise ValueError("seed must be an integer")
        if not 0 <= request.seed <= MAX_SEED:
            raise ValueError(f"seed must be between 0 and {MAX_SEED}, got {request.seed}")
        if isinstance(request.steps, bool) or not isinstance(request.steps, int):
            raise ValueError("steps must be an integer")
        if not MIN_STEPS <= request.steps <= MAX_STEPS:
            raise ValueError(
                f"steps must be between {MIN_STEPS} and {MAX_STEPS}, got {request.steps}"
            )
        if isinstance(request.guidance, bool) or not isinstance(request.guidance, int | float):
            raise ValueError("guidance must be a number")
        guidance = float(request.guidance)
        if not math.isfinite(guidance) or not MIN_GUIDANCE <= guidance <= MAX_GUIDANCE:
            bounds = f"{MIN_GUIDANCE:g} and {MAX_GUIDANCE:g}"
            raise ValueError(f"guidance must be between {bounds}, got {request.guidance}")
        for name, value in (("width", request.width), ("height", request.height)):
            if isinstance(value, bool) or not isinstance(value, int):
                raise ValueError(f"{name} must be an integer")
            if value % self.size_multiple:
                raise ValueError(
                    f"{name} must be a multiple of {self.size_multiple} for model "
                    f"{self.model_id}, got {value}"
                )
            if not self.min_size <= value <= self.max_size:
                raise ValueError(
                    f"{name} must be between {self.min_size} and {self.max_size} for model "
                    f"{self.model_id}, got {value}"
                )

    def _encode(self, texts: list[str]) -> npt.NDArray[np.float32]:
        ids, _ = self.tokenizer(texts)
        out: npt.NDArray[np.float32] = self._text_encoder.run(
            ["last_hidden_state"], {"input_ids": ids.astype(self._te_ids_dtype)}
        )[0]
        return out

    def initial_latents(self, request: GenerationRequest) -> npt.NDArray[np.float32]:
        """The seeded starting noise, (1, C, H/8, W/8) float32."""
        rng = np.random.Generator(np.random.PCG64(request.seed))
        shape = (
            1,
            self._latent_channels,
            request.height // self._vae_scale,
            request.width // self._vae_scale,
        )
        return rng.standard_normal(shape, dtype=np.float32)

    def denoise(
        self, request: GenerationRequest, latents: npt.NDArray[np.float32] | None = None
    ) -> npt.NDArray[np.float32]:
        """Run the sampler; return the decoded image as float32 (1, 3, H, W) in [-1, 1]-ish."""
        scheduler = DdimScheduler(self.scheduler_config)
        timesteps = scheduler.set_timesteps(request.steps)
        guided = request.guidance > 1.0
        if guided:
            embeddings = self._encode([request.negative_prompt, request.prompt])
        else:
            embeddings = self._encode([request.prompt])
        sample = self.initial_latents(request) if latents is None else latents.astype(np.float32)
        sample = sample * np.float32(scheduler.init_noise_sigma)
        batch = embeddings.shape[0]
        for t in timesteps:
            model_in = np.concatenate([sample] * batch, axis=0) if batch > 1 else sample
            timestep = np.asarray(t, dtype=self._timestep_dtype)
            if self._timestep_rank == 1:
                timestep = np.full((batch,), t, dtype=self._timestep_dtype)
            noise = self._unet.run(
                ["out_sample"],
                {"sample": model_in, "timestep": timestep, "encoder_hidden_states": embeddings},
            )[0]
            if guided:
                uncond, cond = noise[:1], noise[1:]
                noise = uncond + np.float32(request.guidance) * (cond - uncond)
            sample = scheduler.step(noise, int(t), sample)
        latents_in = (sample / np.float32(self._scaling) + np.float32(self._shift)).astype(
            np.float32
        )
        image: npt.NDArray[np.float32] = self._vae.run(["sample"], {"latent_sample": latents_in})[0]
        return image

    @staticmethod
    def to_png(image: npt.NDArray[np.float32]) -> bytes:
        """(1, 3, H, W) float in [-1, 1] -> PNG bytes (deterministic: no metadata)."""
        pixels = np.clip(image[0] / 2 + 0.5, 0.0, 1.0).transpose(1, 2, 0)
        array = (pixels * 255).round().astype(np.uint8)
        buf = io.BytesIO()
        Image.fromarray(array, "RGB").save(buf, format="PNG", optimize=False, compress_level=6)
        return buf.getvalue()

    def generate(self, request: GenerationRequest) -> GeneratedImage:
        """Generate one image; ValueError on an invalid request."""
        self.validate(request)
        started = time.perf_counter()
        with self._lock:  # one generation at a time per model: bounded memory, stable timing
            png = self.to_png(self.denoise(request))
        duration = time.perf_counter() - started
        log.info(
            "ml.diffusion.generated",
            model_id=self.model_id,
            seed=request.seed,
            steps=request.steps,
            size=(request.width, request.height),
            seconds=round(duration, 3),
        )
        return GeneratedImage(
            png=png,
            model_id=self.model_id,
            model_hash=self.model_hash,
            seed=request.seed,
            steps=request.steps,
            guidance=float(request.guidance),
            duration_seconds=duration,
        )
