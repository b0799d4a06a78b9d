"""DDIM sampling in numpy, configured from a diffusers ``scheduler_config.json``.

Follows ``diffusers.DDIMScheduler`` (eta = 0, the deterministic sampler) step for step, so
the runtime needs neither torch nor diffusers. Any Stable Diffusion scheduler config (PNDM,
DDIM, Euler, ...) describes the same training noise schedule, so DDIM can sample from it.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import numpy.typing as npt

F32 = npt.NDArray[np.float32]


def _betas_for_alpha_bar(num_steps: int, max_beta: float = 0.999) -> F32:
    def alpha_bar(t: float) -> float:
        return math.cos((t + 0.008) / 1.008 * math.pi / 2) ** 2

    betas = [
        min(1 - alpha_bar((i + 1) / num_steps) / alpha_bar(i / num_steps), max_beta)
        for i in range(num_steps)
    ]
    return np.asarray(betas, dtype=np.float32)


def _rescale_zero_terminal_snr(betas: F32) -> F32:
    alphas_bar_sqrt = np.sqrt(np.cumprod(1.0 - betas, dtype=np.float32))
    first, last = alphas_bar_sqrt[0].copy(), alphas_bar_sqrt[-1].copy()
    alphas_bar_sqrt = (alphas_bar_sqrt - last) * first / (first - last)
    alphas_bar = alphas_bar_sqrt**2
    alphas = np.concatenate([alphas_bar[:1], alphas_bar[1:] / alphas_bar[:-1]])
    return (1 - alphas).astype(np.float32)


class DdimScheduler:
    """Deterministic DDIM (eta = 0) over a diffusers noise-schedule config."""

    init_noise_sigma = 1.0

    def __init__(self, config: dict[str, Any]) -> None:
        self.num_train_timesteps = int(config.get("num_train_timesteps", 1000))
        beta_start = float(config.get("beta_start", 0.0001))
        beta_end = float(config.get("beta_end", 0.02))
        schedule = config.get("beta_schedule", "linear")
        n = self.num_train_timesteps
        if config.get("trained_betas") is not None:
            betas = np.asarray(config["trained_betas"], dtype=np.float32)
        elif schedule == "linear":
            betas = np.linspace(beta_start, beta_end, n, dtype=np.float32)
        elif schedule == "scaled_linear":
            betas = np.linspace(beta_start**0.5, beta_end**0.5, n, dtype=np.float32) ** 2
        elif schedule == "squaredcos_cap_v2":
            betas = _betas_for_alpha_bar(n)
        else:
            raise ValueError(f"unsupported beta_schedule {schedule!r}")
        if config.get("rescale_betas_zero_snr", False):
            betas = _rescale_zero_terminal_snr(betas)
        self.alphas_cumprod: F32 = np.cumprod(1.0 - betas, dtype=np.float32)
        self.final_alpha_cumprod = (
            np.float32(1.0) if config.get("set_alpha_to_one", True) else self.alphas_cumprod[0]
        )
        self.prediction_type = config.get("prediction_type", "epsilon")
        if self.prediction_type not in ("epsilon", "v_prediction", "sample"):
            raise ValueError(f"unsupported prediction_type {self.prediction_type!r}")
        if config.get("thresholding", False):
            raise ValueError("dynamic thresholding is not supported by the numpy DDIM sampler")
        self.clip_sample = bool(config.get("clip_sample", True))
        self.clip_sample_range = float(config.get("clip_sample_range", 1.0))
        self.steps_offset = int(config.get("steps_offset", 0))
        self.timestep_spacing = config.get("timestep_spacing", "leading")
        self.num_inference_steps = 0
        self.timesteps: npt.NDArray[np.int64] = np.zeros(0, dtype=np.int64)

    def set_timesteps(self, num_inference_steps: int) -> npt.NDArray[np.int64]:
        """Choose the timesteps for a run of ``num_inference_steps`` steps (descending)."""
        n, total = num_inference_steps, self.num_train_timesteps
        if not 1 <= n <= total:
            raise ValueError(f"num_inference_steps must be in 1..{total}, got {n}")
        if self.timestep_spacing == "linspace":
            steps = np.linspace(0, total - 1, n).round()[::-1].copy().astype(np.int64)
        elif self.timestep_spacing == "leading":
            ratio = total // n
            steps = (np.arange(0, n) * ratio).round()[::-1].copy().astype(np.int64)
            steps += self.steps_offset
        elif self.timestep_spacing == "trailing":
            ratio_f = total / n
            steps = np.round(np.arange(total, 0, -ratio_f)).astype(np.int64) - 1
        else:
            raise ValueError(f"unsupported timestep_spacing {self.timestep_spacing!r}")
        self.num_inference_steps = n
        self.timesteps = steps
        return steps

    def step(self, model_output: F32, timestep: int, sample: F32) -> F32:
        """One DDIM update x_t -> x_{t-1}."""
        prev_t = timestep - self.num_train_timesteps // self.num_inference_steps
        alpha_t = self.alphas_cumprod[timestep]
        alpha_prev = self.alphas_cumprod[prev_t] if prev_t >= 0 else self.final_alpha_cumprod
        beta_t = 1 - alpha_t
        if self.prediction_type == "epsilon":
            x0 = (sample - beta_t**0.5 * model_output) / alpha_t**0.5
            eps = model_output
        elif self.prediction_type == "sample":
            x0 = model_output
            eps = (sample - alpha_t**0.5 * x0) / beta_t**0.5
        else:  # v_prediction
            x0 = alpha_t**0.5 * sample - beta_t**0.5 * model_output
            eps = alpha_t**0.5 * model_output + beta_t**0.5 * sample
        if self.clip_sample:
            x0 = np.clip(x0, -self.clip_sample_range, self.clip_sample_range)
        prev: F32 = (alpha_prev**0.5 * x0 + (1 - alpha_prev) ** 0.5 * eps).astype(np.float32)
        return prev
