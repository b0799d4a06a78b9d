"""The studio's models holder: where models come from, the errors that say how to provide them,
building tiny models once, and inference without torch."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from dataclasses import replace
from pathlib import Path

import pytest

from application.designs import ModelsUnavailableError
from infrastructure import inference
from infrastructure.inference import MlModels
from infrastructure.settings import Settings, StudioSettings

REPO = Path(__file__).resolve().parents[3]
pytestmark = pytest.mark.ml


def settings_for(tmp_path: Path, **changes: object) -> Settings:
    fields: dict[str, object] = {
        "data_dir": tmp_path,
        "models_dir": None,
        "studio": StudioSettings(),
    }
    return replace(Settings.from_env(), **{**fields, **changes})  # type: ignore[arg-type]


def test_a_configured_export_loads_clip_and_diffusion(tmp_path: Path, export_dir: Path) -> None:
    models = MlModels(settings_for(tmp_path, models_dir=export_dir))
    models.check_available()
    assert models.image_embedder() is models.text_embedder()
    assert models.clip().model_id == "tiny-clip" and models.clip().dimensions == 16
    assert models.generator().default_size == (64, 64)
    assert models.loaded() == {"clip": "tiny-clip", "diffusion": "tiny-diffusion"}
    assert not (tmp_path / "tiny-models").exists()  # nothing built


def test_a_configured_folder_without_an_export_says_how_to_make_one(tmp_path: Path) -> None:
    models = MlModels(settings_for(tmp_path, models_dir=tmp_path / "nothing-here"))
    with pytest.raises(ModelsUnavailableError, match="modiste models export"):
        models.check_available()
    with pytest.raises(ModelsUnavailableError):
        models.clip()


def test_tiny_models_can_be_refused(tmp_path: Path) -> None:
    models = MlModels(settings_for(tmp_path, studio=StudioSettings(tiny_models="never")))
    with pytest.raises(ModelsUnavailableError, match="MODISTE_TINY_MODELS=never"):
        models.check_available()


def test_without_the_export_toolchain_the_error_says_what_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(inference, "_missing_toolchain", lambda: ["torch", "diffusers"])
    with pytest.raises(ModelsUnavailableError) as caught:
        MlModels(settings_for(tmp_path)).check_available()
    message = str(caught.value)
    assert "torch, diffusers not installed" in message
    assert "pip install 'modiste[export]'" in message and "modiste models build-tiny" in message


def test_tiny_models_are_built_once_into_the_data_dir(
    tmp_path: Path, export_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    builds: list[Path] = []

    def fake_build(out_dir: Path, seed: int = 0) -> Path:  # the real build is the ML tests' job
        builds.append(Path(out_dir))
        shutil.copytree(export_dir, Path(out_dir) / "onnx")
        return Path(out_dir) / "onnx"

    import infrastructure.ml.tiny as tiny

    monkeypatch.setattr(tiny, "build_tiny_models", fake_build)
    models = MlModels(settings_for(tmp_path))
    models.check_available()
    assert models.clip().model_id == "tiny-clip"
    assert models.export_dir() == tmp_path / "tiny-models" / "onnx"
    assert (tmp_path / "tiny-models" / "onnx" / "manifest.json").is_file()
    again = MlModels(settings_for(tmp_path))
    assert again.generator().model_id == "tiny-diffusion"
    assert len(builds) == 1
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".tiny-models-")]


def test_inference_never_imports_torch(export_dir: Path, tmp_path: Path) -> None:
    """Loading, embedding and generating in a fresh interpreter leaves torch unimported."""
    script = textwrap.dedent(
        f"""
        import sys, json
        from dataclasses import replace
        from pathlib import Path
        from infrastructure.bootstrap import Container  # the composition root's imports
        from infrastructure.inference import MlModels, read_pixels
        from infrastructure.search.follower import VectorIndexFollower
        from infrastructure.settings import Settings
        from application.ports import GenerationRequest
        settings = replace(Settings.from_env(), data_dir=Path({str(tmp_path)!r}),
                           models_dir=Path({str(export_dir)!r}))
        models = MlModels(settings)
        image = models.generator().generate(GenerationRequest("a coat", "", 1, 2, 5.0, 64, 64))
        vector = models.image_embedder().embed_images([image.png])[0]
        text = models.text_embedder().embed_texts(["a coat"])[0]
        print(json.dumps({{
            "torch": "torch" in sys.modules,
            "pixels": list(read_pixels(image.png).shape),
            "dims": [len(vector), len(text)],
        }}))
        """
    )
    env = {**os.environ, "PYTHONPATH": str(REPO), "MODISTE_LOG_LEVEL": "ERROR"}
    done = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        cwd=REPO,
        env=env,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result == {"torch": False, "pixels": [64, 64, 3], "dims": [16, 16]}
