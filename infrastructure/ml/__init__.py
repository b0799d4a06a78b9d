"""ONNX inference adapters (runtime: onnxruntime + numpy + Pillow + tokenizers).

``clip_onnx`` and ``diffusion_onnx`` are the runtime adapters; ``export`` and ``tiny`` belong
to the export toolchain (torch, optimum, diffusers: the ``export`` extra) and are imported
only by ``modiste models export``, the test fixtures and the benchmarks.
"""

from __future__ import annotations
