"""Judging a generated design: image quality, novelty and prompt alignment.

Pure functions over numpy arrays and numbers; the designer agent feeds them decoded pixels
and CLIP vectors and records what they return.

Quality
    Hard failures stop the design (``DesignGenerationFailed``, stage ``quality``):
    ``wrong_size`` (the image is not the size that was asked for) and ``blank`` (the pixel
    standard deviation, over every channel on the 0-255 scale, is below
    ``BLANK_STD_THRESHOLD``: a flat image carries no design). Soft flags are recorded with
    the evaluation: ``low_contrast``, ``too_dark``, ``too_bright`` and ``low_resolution``
    (shorter side under ``LOW_RESOLUTION_SIDE`` pixels; every image of the tiny test
    models has it).

Novelty
    ``1 - max cosine`` to every other design embedded with the same model, clamped to
    [0, 1] (a negative cosine is as novel as an orthogonal one); 1 when there is nothing to
    compare with. The vectors come from the events, never from re-running a model.

Prompt alignment
    The cosine of the (enhanced) prompt's text embedding and the image embedding, in
    [-1, 1]. Meaningful only with real CLIP weights.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from domain.shared.vectors import cosine

BLANK_STD_THRESHOLD = 2.0
LOW_CONTRAST_STD = 12.0
DARK_MEAN, BRIGHT_MEAN = 20.0, 235.0
LOW_RESOLUTION_SIDE = 256


@dataclass(frozen=True)
class QualityReport:
    """What the quality check saw: size, pixel statistics, failures and soft flags."""

    width: int
    height: int
    pixel_std: float
    mean_brightness: float
    failures: tuple[str, ...]
    flags: tuple[str, ...]

    @property
    def passed(self) -> bool:
        return not self.failures

    def describe_failures(self) -> str:
        """A sentence for DesignGenerationFailed."""
        parts = []
        for failure in self.failures:
            if failure == "blank":
                parts.append(
                    f"the image is blank (pixel std-dev {self.pixel_std:.2f} < "
                    f"{BLANK_STD_THRESHOLD})"
                )
            else:
                parts.append(f"the image is {self.width}x{self.height}, not the size asked for")
        return "; ".join(parts)


def assess_image(
    pixels: npt.NDArray[np.uint8], expected_width: int, expected_height: int
) -> QualityReport:
    """Check an (H, W) or (H, W, C) uint8 image against the size asked for and for blankness."""
    array = np.asarray(pixels)
    if array.ndim not in (2, 3) or array.size == 0:
        raise ValueError(f"expected an (H, W[, C]) image, got shape {array.shape}")
    height, width = int(array.shape[0]), int(array.shape[1])
    values = array.astype(np.float64)
    std = float(values.std())
    mean = float(values.mean())
    failures: list[str] = []
    if (width, height) != (expected_width, expected_height):
        failures.append("wrong_size")
    if std < BLANK_STD_THRESHOLD:
        failures.append("blank")
    flags: list[str] = []
    if BLANK_STD_THRESHOLD <= std < LOW_CONTRAST_STD:
        flags.append("low_contrast")
    if mean < DARK_MEAN:
        flags.append("too_dark")
    if mean > BRIGHT_MEAN:
        flags.append("too_bright")
    if min(width, height) < LOW_RESOLUTION_SIDE:
        flags.append("low_resolution")
    return QualityReport(
        width=width,
        height=height,
        pixel_std=round(std, 4),
        mean_brightness=round(mean, 4),
        failures=tuple(failures),
        flags=tuple(flags),
    )


def novelty(max_similarity: float | None) -> float:
    """1 - the highest cosine to an existing design, in [0, 1]; 1 with nothing to compare."""
    if max_similarity is None:
        return 1.0
    if not np.isfinite(max_similarity):
        raise ValueError("similarity must be finite")
    return float(1.0 - min(1.0, max(0.0, max_similarity)))


def max_similarity(vector: npt.ArrayLike, others: npt.ArrayLike) -> tuple[int, float] | None:
    """(row index, cosine) of the row of ``others`` most similar to ``vector`` (exact search)."""
    query = np.asarray(vector, dtype=np.float64).ravel()
    matrix = np.asarray(others, dtype=np.float64)
    if matrix.size == 0:
        return None
    matrix = matrix.reshape(-1, query.size)
    norms = np.linalg.norm(matrix, axis=1) * np.linalg.norm(query)
    if np.any(norms == 0):
        raise ValueError("cosine is undefined for zero vectors")
    similarities = np.clip(matrix @ query / norms, -1.0, 1.0)
    best = int(np.argmax(similarities))
    return best, float(similarities[best])


def prompt_alignment(text_vector: npt.ArrayLike, image_vector: npt.ArrayLike) -> float:
    """Cosine of the prompt's and the image's embeddings, in [-1, 1]."""
    return cosine(text_vector, image_vector)
