"""End-to-end tests that run the studio's models for real: the tiny random models built once
per session by the ML tests' fixture (reused, not rebuilt), and settings that point at them."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from infrastructure.settings import Settings
from tests.integration.ml.conftest import tiny_models  # noqa: F401 - the shared session fixture


@pytest.fixture(scope="session")
def settings(
    settings: Settings,
    tmp_path_factory: pytest.TempPathFactory,
    tiny_models: Path,  # noqa: F811
) -> Settings:
    """The suite's settings with MODISTE_MODELS_DIR at the tiny export (overrides the root)."""
    return replace(
        settings, data_dir=tmp_path_factory.mktemp("ml-data"), models_dir=tiny_models / "onnx"
    )
