"""Integration tests of the ONNX adapters on tiny randomly initialised models."""

from __future__ import annotations

import sys

import pytest


def skip_if_onnxruntime_cannot_load() -> None:
    """Skip the calling test module when onnxruntime would crash this process.

    onnxruntime imported *after* usearch segfaults (libstdc++ clash; see
    infrastructure/ml/runtime.py). The process must import onnxruntime first; until the test
    session does, these tests skip with the reason rather than take the whole run down.
    """
    if "usearch.compiled" in sys.modules and "onnxruntime" not in sys.modules:
        pytest.skip(
            "onnxruntime was not imported before usearch in this process, and importing it "
            "now would segfault: import onnxruntime before usearch (e.g. at the top of the "
            "usearch index adapter)",
            allow_module_level=True,
        )
