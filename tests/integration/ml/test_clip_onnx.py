"""ONNX CLIP adapter against the torch CLIPModel it was exported from."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.integration.ml import skip_if_onnxruntime_cannot_load

skip_if_onnxruntime_cannot_load()

from application.ports import ImageEmbedder, TextEmbedder  # noqa: E402
from infrastructure.ml import runtime  # noqa: E402
from infrastructure.ml.clip_onnx import OnnxClip  # noqa: E402

pytestmark = pytest.mark.ml

TEXTS = [
    "A red silk evening gown with pearl buttons",
    "",
    "blue   DENIM jacket, oversized; " * 30,  # longer than 77 tokens: truncated
    "Café crème — ünïcode 123 😀 it's",
]


def _png(width: int, height: int, mode: str, seed: int) -> bytes:
    rng = np.random.default_rng(seed)
    channels = {"RGB": 3, "RGBA": 4, "L": 1}[mode]
    array = rng.integers(0, 256, (height, width, channels), dtype=np.uint8)
    buf = io.BytesIO()
    Image.fromarray(array.squeeze(-1) if channels == 1 else array, mode).save(buf, "PNG")
    return buf.getvalue()


def _jpeg(width: int, height: int, seed: int) -> bytes:
    image = Image.open(io.BytesIO(_png(width, height, "RGB", seed)))
    buf = io.BytesIO()
    image.save(buf, "JPEG", quality=90)
    return buf.getvalue()


IMAGES = [
    _png(64, 48, "RGB", 1),
    _png(40, 90, "RGBA", 2),
    _png(33, 33, "L", 3),
    _png(20, 25, "RGB", 4),  # smaller than the crop: upscaled
    _jpeg(300, 200, 5),
]


@pytest.fixture(scope="module")
def clip(export_dir: Path) -> OnnxClip:
    return OnnxClip(export_dir, providers=["CPUExecutionProvider"], intra_op_threads=2)


@pytest.fixture(scope="module")
def torch_clip(hf_clip_dir: Path):  # type: ignore[no-untyped-def]
    pytest.importorskip("torch")
    from transformers import CLIPModel

    return CLIPModel.from_pretrained(hf_clip_dir, local_files_only=True).eval()


def _unit(x: np.ndarray) -> np.ndarray:
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def test_implements_both_ports(clip: OnnxClip) -> None:
    assert isinstance(clip, ImageEmbedder)
    assert isinstance(clip, TextEmbedder)
    assert clip.model_id == "tiny-clip"
    assert clip.dimensions == 16


def test_preprocessing_matches_clip_image_processor(clip: OnnxClip, hf_clip_dir: Path) -> None:
    pytest.importorskip("torch")
    from transformers import CLIPImageProcessor

    processor = CLIPImageProcessor.from_pretrained(hf_clip_dir, local_files_only=True)
    for data in IMAGES:
        expected = processor(images=[Image.open(io.BytesIO(data))], return_tensors="np")
        ours = clip.pixel_values([data])
        assert ours.shape == expected["pixel_values"].shape == (1, 3, 32, 32)
        np.testing.assert_allclose(ours, expected["pixel_values"], atol=1e-5)


def test_tokenizer_matches_transformers(clip: OnnxClip, hf_clip_dir: Path) -> None:
    pytest.importorskip("torch")
    from transformers import CLIPTokenizer

    tokenizer = CLIPTokenizer.from_pretrained(hf_clip_dir, local_files_only=True)
    expected = tokenizer(TEXTS, padding="max_length", truncation=True, max_length=77)
    ids, mask = clip.tokenizer(TEXTS)
    assert ids.tolist() == expected["input_ids"]
    assert mask.tolist() == expected["attention_mask"]


def test_image_embeddings_match_torch(clip: OnnxClip, torch_clip) -> None:  # type: ignore[no-untyped-def]
    import torch

    pixels = clip.pixel_values(IMAGES)
    with torch.no_grad():
        expected = torch_clip.get_image_features(pixel_values=torch.from_numpy(pixels)).numpy()
    ours = clip.embed_images(IMAGES)
    assert ours.dtype == np.float32
    assert ours.shape == (len(IMAGES), 16)
    assert np.abs(ours - _unit(expected)).max() < 1e-4


def test_text_embeddings_match_torch(clip: OnnxClip, torch_clip) -> None:  # type: ignore[no-untyped-def]
    import torch

    ids, mask = clip.tokenizer(TEXTS)
    with torch.no_grad():
        expected = torch_clip.get_text_features(
            input_ids=torch.from_numpy(ids), attention_mask=torch.from_numpy(mask)
        ).numpy()
    ours = clip.embed_texts(TEXTS)
    assert ours.dtype == np.float32
    assert np.abs(ours - _unit(expected)).max() < 1e-4


def test_outputs_have_unit_length(clip: OnnxClip) -> None:
    for vectors in (clip.embed_images(IMAGES), clip.embed_texts(TEXTS)):
        np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)


def test_batch_equals_single(export_dir: Path) -> None:
    small_batches = OnnxClip(export_dir, providers=["CPUExecutionProvider"], max_batch=2)
    batched = small_batches.embed_images(IMAGES)
    single = np.concatenate([small_batches.embed_images([img]) for img in IMAGES])
    np.testing.assert_allclose(batched, single, atol=1e-6)
    texts = small_batches.embed_texts(TEXTS)
    one_by_one = np.concatenate([small_batches.embed_texts([t]) for t in TEXTS])
    np.testing.assert_allclose(texts, one_by_one, atol=1e-6)


def test_empty_input_gives_empty_matrix(clip: OnnxClip) -> None:
    assert clip.embed_images([]).shape == (0, 16)
    assert clip.embed_texts([]).shape == (0, 16)


def test_undecodable_image_is_a_value_error(clip: OnnxClip) -> None:
    with pytest.raises(ValueError, match="image 1 could not be decoded"):
        clip.embed_images([IMAGES[0], b"not an image"])


def test_int8_variant_is_close_to_fp32(clip: OnnxClip, export_dir: Path) -> None:
    int8 = OnnxClip(export_dir, providers=["CPUExecutionProvider"], variant="int8")
    assert int8.model_id == "tiny-clip+int8"
    assert int8.model_hash != clip.model_hash
    for ours, quantised in (
        (clip.embed_images(IMAGES), int8.embed_images(IMAGES)),
        (clip.embed_texts(TEXTS), int8.embed_texts(TEXTS)),
    ):
        cosine = (ours * quantised).sum(axis=1)
        assert cosine.min() > 0.99
        np.testing.assert_allclose(np.linalg.norm(quantised, axis=1), 1.0, atol=1e-5)


def test_unknown_variant_is_rejected(export_dir: Path) -> None:
    with pytest.raises(ValueError, match="no 'fp16' variant"):
        OnnxClip(export_dir, variant="fp16")


def test_cuda_request_falls_back_to_cpu_with_one_log_line(
    export_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from structlog.testing import capture_logs

    if "CUDAExecutionProvider" not in runtime.available_providers():
        pytest.skip("this onnxruntime build has no CUDA provider to fall back from")
    monkeypatch.setattr(runtime, "_unusable", set())
    monkeypatch.setattr(runtime, "_fallback_logged", set())
    with capture_logs() as logs:
        first = OnnxClip(export_dir)  # default: CUDA, then CPU
        OnnxClip(export_dir)
    if "CUDAExecutionProvider" in first.providers:
        pytest.skip("CUDA is usable here: nothing to fall back from")
    assert first.providers == ["CPUExecutionProvider"]
    fallbacks = [e for e in logs if e["event"] == "onnx.provider_fallback"]
    assert len(fallbacks) == 1
    assert fallbacks[0]["unavailable"] == ["CUDAExecutionProvider"]
    np.testing.assert_allclose(np.linalg.norm(first.embed_texts(["x"]), axis=1), 1.0, atol=1e-5)
