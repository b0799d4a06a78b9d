"""ONNX diffusion adapter: reproducibility, validation, and parity with diffusers/torch."""

from __future__ import annotations

import dataclasses
import io
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.integration.ml import skip_if_onnxruntime_cannot_load

skip_if_onnxruntime_cannot_load()

from application.ports import GenerationRequest, ImageGenerator  # noqa: E402
from infrastructure.ml.diffusion_onnx import OnnxDiffusion  # noqa: E402
from infrastructure.ml.schedulers import DdimScheduler  # noqa: E402

pytestmark = pytest.mark.ml

REQUEST = GenerationRequest(
    prompt="a red silk evening gown, studio lighting",
    negative_prompt="blurry, low quality",
    seed=1234,
    steps=4,
    guidance=7.5,
    width=64,
    height=64,
)


@pytest.fixture(scope="module")
def generator(export_dir: Path) -> OnnxDiffusion:
    return OnnxDiffusion(export_dir, providers=["CPUExecutionProvider"], intra_op_threads=2)


@pytest.fixture(scope="module")
def pipeline(hf_diffusion_dir: Path):  # type: ignore[no-untyped-def]
    pytest.importorskip("torch")
    from diffusers import StableDiffusionPipeline

    pipe = StableDiffusionPipeline.from_pretrained(
        hf_diffusion_dir, local_files_only=True, safety_checker=None, requires_safety_checker=False
    )
    pipe.set_progress_bar_config(disable=True)
    return pipe


def test_implements_port_with_provenance(generator: OnnxDiffusion, export_dir: Path) -> None:
    assert isinstance(generator, ImageGenerator)
    manifest = json.loads((export_dir / "manifest.json").read_text())
    result = generator.generate(REQUEST)
    assert result.model_id == "tiny-diffusion"
    assert result.model_hash == manifest["diffusion"]["model_hash"] == generator.model_hash
    assert (result.seed, result.steps, result.guidance) == (1234, 4, 7.5)
    assert result.duration_seconds > 0
    image = Image.open(io.BytesIO(result.png))
    assert image.format == "PNG"
    assert (image.size, image.mode) == ((64, 64), "RGB")


def test_same_request_gives_byte_identical_png(generator: OnnxDiffusion, export_dir: Path) -> None:
    first = generator.generate(REQUEST).png
    assert generator.generate(REQUEST).png == first
    fresh = OnnxDiffusion(export_dir, providers=["CPUExecutionProvider"], intra_op_threads=1)
    assert fresh.generate(REQUEST).png == first


def test_different_seed_or_prompt_gives_different_image(generator: OnnxDiffusion) -> None:
    base = generator.generate(REQUEST).png
    assert generator.generate(dataclasses.replace(REQUEST, seed=1235)).png != base
    assert generator.generate(dataclasses.replace(REQUEST, prompt="a denim jacket")).png != base
    assert generator.generate(dataclasses.replace(REQUEST, negative_prompt="")).png != base


def test_non_square_and_unguided_requests(generator: OnnxDiffusion) -> None:
    wide = generator.generate(dataclasses.replace(REQUEST, width=128, height=64, guidance=1.0))
    assert Image.open(io.BytesIO(wide.png)).size == (128, 64)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"steps": 0}, "steps must be between 1 and 100"),
        ({"steps": 101}, "steps must be between 1 and 100"),
        ({"guidance": -0.5}, "guidance must be between 0 and 20"),
        ({"guidance": 20.5}, "guidance must be between 0 and 20"),
        ({"guidance": float("nan")}, "guidance must be between 0 and 20"),
        ({"width": 60}, "width must be a multiple of"),
        ({"height": 72}, "height must be a multiple of"),
        ({"width": 4096}, "width must be between"),
        ({"seed": -1}, "seed must be between"),
    ],
)
def test_invalid_requests_raise_value_error(
    generator: OnnxDiffusion, change: dict[str, object], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        generator.generate(dataclasses.replace(REQUEST, **change))  # type: ignore[arg-type]


def test_onnx_unet_matches_torch_unet(generator: OnnxDiffusion, hf_diffusion_dir: Path) -> None:
    torch = pytest.importorskip("torch")
    from diffusers import UNet2DConditionModel

    unet = UNet2DConditionModel.from_pretrained(
        hf_diffusion_dir / "unet", local_files_only=True
    ).eval()
    rng = np.random.default_rng(0)
    sample = rng.standard_normal((2, 4, 8, 12), dtype=np.float32)
    hidden = rng.standard_normal((2, 77, 32), dtype=np.float32)
    for t in (1, 500, 999):
        with torch.no_grad():
            expected = unet(
                torch.from_numpy(sample), torch.tensor(t), torch.from_numpy(hidden)
            ).sample.numpy()
        ours = generator._unet.run(
            ["out_sample"],
            {
                "sample": sample,
                "timestep": np.asarray(t, np.float32),
                "encoder_hidden_states": hidden,
            },
        )[0]
        assert np.abs(ours - expected).max() < 1e-4


def test_pipeline_matches_diffusers_on_same_latents(generator: OnnxDiffusion, pipeline) -> None:  # type: ignore[no-untyped-def]
    import torch

    for request in (REQUEST, dataclasses.replace(REQUEST, guidance=1.0, width=96, steps=3)):
        latents = generator.initial_latents(request)
        ours = np.clip(generator.denoise(request)[0] / 2 + 0.5, 0, 1).transpose(1, 2, 0)
        expected = pipeline(
            prompt=request.prompt,
            negative_prompt=request.negative_prompt,
            num_inference_steps=request.steps,
            guidance_scale=request.guidance,
            width=request.width,
            height=request.height,
            latents=torch.from_numpy(latents),
            output_type="np",
        ).images[0]
        assert np.abs(ours - expected).max() < 1e-4


@pytest.mark.parametrize(
    "config",
    [
        {
            "beta_schedule": "scaled_linear",
            "beta_start": 0.00085,
            "beta_end": 0.012,
            "set_alpha_to_one": False,
            "steps_offset": 1,
            "clip_sample": False,
        },
        {
            "beta_schedule": "linear",
            "timestep_spacing": "trailing",
            "prediction_type": "v_prediction",
        },
        {
            "beta_schedule": "squaredcos_cap_v2",
            "timestep_spacing": "linspace",
            "prediction_type": "sample",
        },
        {
            "beta_schedule": "scaled_linear",
            "rescale_betas_zero_snr": True,
            "timestep_spacing": "trailing",
            "prediction_type": "v_prediction",
            "clip_sample": False,
        },
    ],
)
def test_numpy_ddim_matches_diffusers(config: dict[str, object]) -> None:
    torch = pytest.importorskip("torch")
    from diffusers import DDIMScheduler

    reference = DDIMScheduler(**config)  # type: ignore[arg-type]
    ours = DdimScheduler(dict(reference.config))
    for steps in (1, 7, 50):
        reference.set_timesteps(steps)
        timesteps = ours.set_timesteps(steps)
        assert timesteps.tolist() == reference.timesteps.tolist()
        rng = np.random.default_rng(steps)
        sample = rng.standard_normal((1, 4, 8, 8), dtype=np.float32)
        ref_sample = torch.from_numpy(sample.copy())
        for t in timesteps:
            output = rng.standard_normal((1, 4, 8, 8), dtype=np.float32)
            ref_sample = reference.step(torch.from_numpy(output), int(t), ref_sample).prev_sample
            sample = ours.step(output, int(t), sample)
        np.testing.assert_allclose(sample, ref_sample.numpy(), rtol=1e-4, atol=1e-4)
