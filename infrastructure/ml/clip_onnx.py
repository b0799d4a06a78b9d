"""CLIP image and text embeddings on ONNX Runtime (ImageEmbedder + TextEmbedder ports).

Runtime-safe: onnxruntime, numpy, Pillow and tokenizers; no torch.
"""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import structlog
from PIL import Image, ImageOps, UnidentifiedImageError

from infrastructure.ml.manifest import file_entry_hashes, model_section, verify_files
from infrastructure.ml.runtime import ClipBpeTokenizer, create_session, session_io

log = structlog.get_logger(__name__)

_RESAMPLE = {
    "nearest": Image.Resampling.NEAREST,
    "bilinear": Image.Resampling.BILINEAR,
    "bicubic": Image.Resampling.BICUBIC,
    "lanczos": Image.Resampling.LANCZOS,
    "box": Image.Resampling.BOX,
    "hamming": Image.Resampling.HAMMING,
}


def _to_rgb(image: Image.Image) -> Image.Image:
    """RGB as CLIP's reference preprocessing does it: ``convert("RGB")`` (alpha dropped)."""
    return image if image.mode == "RGB" else image.convert("RGB")


def _resize_shortest_edge(image: Image.Image, shortest: int, resample: int) -> Image.Image:
    width, height = image.size
    short, long = (width, height) if width <= height else (height, width)
    new_short, new_long = shortest, int(shortest * long / short)
    new_w, new_h = (new_short, new_long) if width <= height else (new_long, new_short)
    if (new_w, new_h) == (width, height):
        return image
    return image.resize((new_w, new_h), resample=resample, reducing_gap=None)


def _center_crop(array: npt.NDArray[Any], crop_h: int, crop_w: int) -> npt.NDArray[Any]:
    """Centre crop of an HWC array, zero-padding when it is smaller (transformers' rule)."""
    h, w = array.shape[:2]
    top, left = (h - crop_h) // 2, (w - crop_w) // 2
    bottom, right = top + crop_h, left + crop_w
    if top >= 0 and left >= 0 and bottom <= h and right <= w:
        return array[top:bottom, left:right]
    new_h, new_w = max(crop_h, h), max(crop_w, w)
    padded = np.zeros((new_h, new_w, *array.shape[2:]), dtype=array.dtype)
    top_pad, left_pad = math.ceil((new_h - h) / 2), math.ceil((new_w - w) / 2)
    padded[top_pad : top_pad + h, left_pad : left_pad + w] = array
    top, bottom, left, right = top + top_pad, bottom + top_pad, left + left_pad, right + left_pad
    return padded[max(0, top) : min(new_h, bottom), max(0, left) : min(new_w, right)]


class ClipImagePreprocessor:
    """CLIPImageProcessor's pipeline in Pillow + numpy, driven by the manifest's ``image``.

    RGB conversion, resize of the shortest side (bicubic by default), centre crop, rescale
    (1/255), normalise with mean/std, channels first: float32 (3, H, W).
    """

    def __init__(self, config: dict[str, Any]) -> None:
        self.config = config
        self._resample = _RESAMPLE[config.get("resample", "bicubic")]
        self._mean = np.asarray(config["mean"], dtype=np.float32)
        self._std = np.asarray(config["std"], dtype=np.float32)

    def __call__(self, image: Image.Image) -> npt.NDArray[np.float32]:
        cfg = self.config
        if cfg.get("do_convert_rgb", True):
            image = _to_rgb(image)
        if cfg.get("do_resize", True):
            image = _resize_shortest_edge(image, int(cfg["shortest_edge"]), self._resample)
        array: npt.NDArray[Any] = np.asarray(image)
        if array.ndim == 2:
            array = np.repeat(array[:, :, None], 3, axis=2)
        if cfg.get("do_center_crop", True):
            crop_h, crop_w = cfg["crop_size"]
            array = _center_crop(array, int(crop_h), int(crop_w))
        if cfg.get("do_rescale", True):
            array = (array.astype(np.float64) * float(cfg["rescale_factor"])).astype(np.float32)
        else:
            array = array.astype(np.float32)
        if cfg.get("do_normalize", True):
            array = (array - self._mean) / self._std
        return np.ascontiguousarray(array.transpose(2, 0, 1), dtype=np.float32)


def decode_image(data: bytes, index: int = 0) -> Image.Image:
    """Decode JPEG/PNG/WebP bytes, applying the EXIF orientation; ValueError if unreadable."""
    try:
        image = Image.open(io.BytesIO(data))
        image.load()
    except (UnidentifiedImageError, OSError, Image.DecompressionBombError) as exc:
        raise ValueError(f"image {index} could not be decoded: {exc}") from exc
    return ImageOps.exif_transpose(image)


def l2_normalise(vectors: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    """Rows scaled to unit length (zero rows stay zero)."""
    vectors = vectors.astype(np.float32, copy=False)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    unit: npt.NDArray[np.float32] = (vectors / np.maximum(norms, np.float32(1e-12))).astype(
        np.float32
    )
    return unit


class OnnxClip:
    """CLIP on ONNX Runtime: implements both ``ImageEmbedder`` and ``TextEmbedder``.

    ``export_dir`` is an export folder (``manifest.json`` + ``clip/``). ``variant`` picks
    ``fp32`` or ``int8``; the int8 variant reports ``model_id`` as ``<id>+int8`` so vectors
    from the two are never mistaken for one another.
    """

    def __init__(
        self,
        export_dir: str | Path,
        *,
        providers: Sequence[str] | None = None,
        intra_op_threads: int | None = None,
        max_batch: int = 32,
        variant: str = "fp32",
        verify_hashes: bool = False,
    ) -> None:
        if max_batch < 1:
            raise ValueError("max_batch must be at least 1")
        self.export_dir = Path(export_dir)
        section = model_section(self.export_dir, "clip")
        variants = section["variants"]
        if variant not in variants:
            raise ValueError(f"CLIP export has no {variant!r} variant (has {sorted(variants)})")
        chosen = variants[variant]
        if verify_hashes:
            hashes: dict[str, str] = {}
            for entry in chosen["files"].values():
                hashes.update(file_entry_hashes(entry))
            verify_files(self.export_dir, hashes)
        self.section = section
        self.variant = variant
        self.model_id: str = section["model_id"] + ("" if variant == "fp32" else f"+{variant}")
        self.model_hash: str = chosen["model_hash"]
        self.dimensions: int = int(section["embedding_dim"])
        self.max_batch = max_batch
        files = chosen["files"]
        self._vision = create_session(
            self.export_dir / files["vision"]["path"], providers, intra_op_threads
        )
        self._text = create_session(
            self.export_dir / files["text"]["path"], providers, intra_op_threads
        )
        self.providers: list[str] = self._vision.get_providers()
        self._vision_input = section["image"].get("input", "pixel_values")
        self._vision_output = section["image"].get("output", "image_embeds")
        self._text_output = section["text"].get("output", "text_embeds")
        text_inputs, _ = session_io(self._text)
        self._text_uses_mask = "attention_mask" in text_inputs
        self.preprocess = ClipImagePreprocessor(section["image"])
        self.tokenizer = ClipBpeTokenizer.from_section(self.export_dir, section)
        log.info(
            "ml.clip.loaded",
            model_id=self.model_id,
            model_hash=self.model_hash,
            dimensions=self.dimensions,
            providers=self.providers,
        )

    def pixel_values(self, images: Sequence[bytes]) -> npt.NDArray[np.float32]:
        """Decode and preprocess images to a (N, 3, H, W) float32 batch."""
        return np.stack([self.preprocess(decode_image(b, i)) for i, b in enumerate(images)])

    def embed_pixel_values(self, pixels: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        """Embed already preprocessed pixels, in chunks of ``max_batch``; unit rows."""
        out = [
            self._vision.run(
                [self._vision_output], {self._vision_input: pixels[i : i + self.max_batch]}
            )[0]
            for i in range(0, len(pixels), self.max_batch)
        ]
        return l2_normalise(np.concatenate(out, axis=0))

    def embed_images(self, images: Sequence[bytes]) -> npt.NDArray[np.float32]:
        """(len(images), dimensions) float32, each row of unit length."""
        if not images:
            return np.zeros((0, self.dimensions), dtype=np.float32)
        chunks = [
            self.embed_pixel_values(self.pixel_values(images[i : i + self.max_batch]))
            for i in range(0, len(images), self.max_batch)
        ]
        return np.concatenate(chunks, axis=0)

    def embed_texts(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        """(len(texts), dimensions) float32, each row of unit length."""
        if not texts:
            return np.zeros((0, self.dimensions), dtype=np.float32)
        out = []
        for i in range(0, len(texts), self.max_batch):
            ids, mask = self.tokenizer(texts[i : i + self.max_batch])
            feeds = {"input_ids": ids}
            if self._text_uses_mask:
                feeds["attention_mask"] = mask
            out.append(self._text.run([self._text_output], feeds)[0])
        return l2_normalise(np.concatenate(out, axis=0))
