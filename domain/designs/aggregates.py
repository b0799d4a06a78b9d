"""The design studio: a Design from its prompt to a published, embedded, evaluated image.

Every step of the pipeline is an explicit event, so a design's history says what was asked,
what was refused and why, which model drew it with which seed, and how it scored::

    DesignRequested -> DesignPromptEnhanced -> DesignGenerated -> DesignEmbedded
                    -> DesignEvaluated -> DesignPublished
    DesignRequested -> DesignModerationFailed                (rejected, final)
    DesignPromptEnhanced | DesignGenerated -> DesignGenerationFailed   (failed, final)
    any status but archived -> DesignArchived

Each command checks the status first and raises InvariantViolationError when the step is
out of order; publishing or archiving twice is a no-op.
"""

from __future__ import annotations

import math
import uuid
from typing import Any

from domain.designs.values import (
    MAX_GUIDANCE,
    MAX_PROMPT_CHARS,
    MAX_SEED,
    MAX_SIDE,
    MAX_STEPS,
    MIN_GUIDANCE,
    MIN_SIDE,
    MIN_STEPS,
    SIDE_MULTIPLE,
    DesignStatus,
    StyleOptions,
)
from domain.shared.aggregate import ModisteAggregate
from domain.shared.errors import InvariantViolationError, ValidationError
from domain.shared.vectors import from_f16_bytes

MAX_REASON_CHARS = 500


def _require_prompt(value: str, field: str, *, allow_empty: bool) -> str:
    cleaned = " ".join(value.split())
    if not cleaned and not allow_empty:
        raise ValidationError(f"{field} must not be empty", field)
    if len(cleaned) > MAX_PROMPT_CHARS:
        raise ValidationError(f"{field} is longer than {MAX_PROMPT_CHARS} characters", field)
    return cleaned


def _require_int(value: int, field: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValidationError(f"{field} must be an integer", field)
    if not low <= value <= high:
        raise ValidationError(f"{field} must be between {low} and {high}", field)
    return value


def _require_side(value: int | None, field: str) -> int | None:
    if value is None:
        return None
    _require_int(value, field, MIN_SIDE, MAX_SIDE)
    if value % SIDE_MULTIPLE:
        raise ValidationError(f"{field} must be a multiple of {SIDE_MULTIPLE}", field)
    return value


def _require_unit(value: float, field: str, low: float = 0.0, high: float = 1.0) -> float:
    if not math.isfinite(value) or not low <= value <= high:
        raise ValidationError(f"{field} must lie in [{low}, {high}]", field)
    return float(value)


class Design(ModisteAggregate):
    """A design requested by a designer and drawn by the diffusion model."""

    class DesignRequested(ModisteAggregate.Created):
        prompt: str
        negative_prompt: str
        garment: str | None
        fabric: str | None
        silhouette: str | None
        palette: list[str]
        seed: int
        steps: int
        guidance: float
        width: int | None
        height: int | None
        requested_by: str

    class DesignModerationFailed(ModisteAggregate.Event):
        rule: str
        reason: str

        def apply(self, aggregate: Any) -> None:
            aggregate.status = DesignStatus.REJECTED
            aggregate.failure_reason = self.reason

    class DesignPromptEnhanced(ModisteAggregate.Event):
        enhanced_prompt: str
        negative_prompt: str

        def apply(self, aggregate: Any) -> None:
            aggregate.status = DesignStatus.ENHANCED
            aggregate.enhanced_prompt = self.enhanced_prompt
            aggregate.enhanced_negative_prompt = self.negative_prompt

    class DesignGenerated(ModisteAggregate.Event):
        image_sha256: str
        media_type: str
        width: int
        height: int
        seed: int
        steps: int
        guidance: float
        model_id: str
        model_hash: str
        duration_seconds: float

        def apply(self, aggregate: Any) -> None:
            aggregate.status = DesignStatus.GENERATED
            aggregate.image_sha256 = self.image_sha256
            aggregate.image_media_type = self.media_type
            aggregate.image_size = (self.width, self.height)
            aggregate.model_id = self.model_id
            aggregate.model_hash = self.model_hash
            aggregate.generation_seconds = self.duration_seconds

    class DesignGenerationFailed(ModisteAggregate.Event):
        stage: str
        reason: str
        attempt: int

        def apply(self, aggregate: Any) -> None:
            aggregate.status = DesignStatus.FAILED
            aggregate.failure_reason = self.reason
            aggregate.failed_stage = self.stage
            aggregate.attempts = self.attempt

    class DesignEmbedded(ModisteAggregate.Event):
        model_id: str
        vector_f16: bytes

        def apply(self, aggregate: Any) -> None:
            aggregate.status = DesignStatus.EMBEDDED
            aggregate.embedding_model_id = self.model_id
            aggregate.embedding_f16 = self.vector_f16

    class DesignEvaluated(ModisteAggregate.Event):
        novelty: float
        prompt_alignment: float
        quality_flags: list[str]
        compared_with: int
        nearest_design_id: str | None

        def apply(self, aggregate: Any) -> None:
            aggregate.status = DesignStatus.EVALUATED
            aggregate.novelty = self.novelty
            aggregate.prompt_alignment = self.prompt_alignment
            aggregate.quality_flags = list(self.quality_flags)
            aggregate.compared_with = self.compared_with
            aggregate.nearest_design_id = self.nearest_design_id

    class DesignPublished(ModisteAggregate.Event):
        def apply(self, aggregate: Any) -> None:
            aggregate.status = DesignStatus.PUBLISHED

    class DesignArchived(ModisteAggregate.Event):
        reason: str

        def apply(self, aggregate: Any) -> None:
            aggregate.status_before_archive = aggregate.status
            aggregate.status = DesignStatus.ARCHIVED

    def __init__(
        self,
        prompt: str,
        negative_prompt: str,
        garment: str | None,
        fabric: str | None,
        silhouette: str | None,
        palette: list[str],
        seed: int,
        steps: int,
        guidance: float,
        width: int | None,
        height: int | None,
        requested_by: str,
    ) -> None:
        self.prompt = prompt
        self.negative_prompt = negative_prompt
        self.style = StyleOptions(garment, fabric, silhouette, tuple(palette))
        self.seed = seed
        self.steps = steps
        self.guidance = guidance
        self.width = width
        self.height = height
        self.requested_by = requested_by
        self.status = DesignStatus.REQUESTED
        self.status_before_archive: DesignStatus | None = None
        self.enhanced_prompt: str | None = None
        self.enhanced_negative_prompt: str | None = None
        self.image_sha256: str | None = None
        self.image_media_type: str | None = None
        self.image_size: tuple[int, int] | None = None
        self.model_id: str | None = None
        self.model_hash: str | None = None
        self.generation_seconds: float | None = None
        self.embedding_model_id: str | None = None
        self.embedding_f16: bytes | None = None
        self.novelty: float | None = None
        self.prompt_alignment: float | None = None
        self.quality_flags: list[str] = []
        self.compared_with: int | None = None
        self.nearest_design_id: str | None = None
        self.failure_reason: str | None = None
        self.failed_stage: str | None = None
        self.attempts = 0

    # -- commands ------------------------------------------------------------------------

    @classmethod
    def request(
        cls,
        *,
        prompt: str,
        requested_by: str,
        seed: int,
        negative_prompt: str = "",
        style: StyleOptions | None = None,
        steps: int,
        guidance: float,
        width: int | None = None,
        height: int | None = None,
        design_id: uuid.UUID | None = None,
    ) -> Design:
        """Record a request; the designer agent takes it from here."""
        style = style or StyleOptions()
        if isinstance(guidance, bool) or not isinstance(guidance, int | float):
            raise ValidationError("guidance must be a number", "guidance")
        _require_unit(float(guidance), "guidance", MIN_GUIDANCE, MAX_GUIDANCE)
        if not requested_by.strip():
            raise ValidationError("a design is requested by someone", "requested_by")
        design: Design = cls._create(
            cls.DesignRequested,
            id=design_id or uuid.uuid4(),
            prompt=_require_prompt(prompt, "prompt", allow_empty=False),
            negative_prompt=_require_prompt(negative_prompt, "negative_prompt", allow_empty=True),
            garment=style.garment,
            fabric=style.fabric,
            silhouette=style.silhouette,
            palette=list(style.palette),
            seed=_require_int(seed, "seed", 0, MAX_SEED),
            steps=_require_int(steps, "steps", MIN_STEPS, MAX_STEPS),
            guidance=float(guidance),
            width=_require_side(width, "width"),
            height=_require_side(height, "height"),
            requested_by=requested_by.strip(),
        )
        return design

    def fail_moderation(self, rule: str, reason: str) -> None:
        """The prompt broke a moderation rule: the design stops here."""
        self._require_status("reject", DesignStatus.REQUESTED)
        self.trigger_event(
            self.DesignModerationFailed, rule=rule, reason=reason.strip()[:MAX_REASON_CHARS]
        )

    def enhance_prompt(self, enhanced_prompt: str, negative_prompt: str) -> None:
        """Record the prompt (and negative prompt) the generator will be given."""
        self._require_status("enhance the prompt of", DesignStatus.REQUESTED)
        if not enhanced_prompt.strip():
            raise ValidationError("an enhanced prompt must not be empty", "enhanced_prompt")
        self.trigger_event(
            self.DesignPromptEnhanced,
            enhanced_prompt=enhanced_prompt,
            negative_prompt=negative_prompt,
        )

    def record_generation(
        self,
        *,
        image_sha256: str,
        media_type: str,
        width: int,
        height: int,
        seed: int,
        steps: int,
        guidance: float,
        model_id: str,
        model_hash: str,
        duration_seconds: float,
    ) -> None:
        """The image exists (stored under its sha256) with the provenance to redraw it."""
        self._require_status("record the image of", DesignStatus.ENHANCED)
        if len(image_sha256) != 64:
            raise ValidationError("image_sha256 must be a sha256 hex digest", "image_sha256")
        self.trigger_event(
            self.DesignGenerated,
            image_sha256=image_sha256,
            media_type=media_type,
            width=width,
            height=height,
            seed=seed,
            steps=steps,
            guidance=float(guidance),
            model_id=model_id,
            model_hash=model_hash,
            duration_seconds=round(float(duration_seconds), 4),
        )

    def fail_generation(self, stage: str, reason: str, attempt: int) -> None:
        """Generation, its quality check or the embedding gave up after ``attempt`` tries."""
        self._require_status("fail", DesignStatus.ENHANCED, DesignStatus.GENERATED)
        self.trigger_event(
            self.DesignGenerationFailed,
            stage=stage,
            reason=reason.strip()[:MAX_REASON_CHARS],
            attempt=max(1, attempt),
        )

    def record_embedding(self, model_id: str, vector_f16: bytes) -> None:
        """The CLIP embedding of the image, as float16 bytes."""
        self._require_status("embed", DesignStatus.GENERATED)
        try:
            from_f16_bytes(vector_f16)
        except ValueError as exc:
            raise ValidationError(str(exc), "vector_f16") from None
        self.trigger_event(self.DesignEmbedded, model_id=model_id, vector_f16=vector_f16)

    def record_evaluation(
        self,
        *,
        novelty: float,
        prompt_alignment: float,
        quality_flags: list[str],
        compared_with: int,
        nearest_design_id: str | None,
    ) -> None:
        """Scores: novelty in [0, 1], prompt alignment (a cosine) in [-1, 1]."""
        self._require_status("evaluate", DesignStatus.EMBEDDED)
        self.trigger_event(
            self.DesignEvaluated,
            novelty=round(_require_unit(novelty, "novelty"), 6),
            prompt_alignment=round(_require_unit(prompt_alignment, "prompt_alignment", -1.0), 6),
            quality_flags=sorted(set(quality_flags)),
            compared_with=compared_with,
            nearest_design_id=nearest_design_id,
        )

    def publish(self) -> None:
        """Show the design in the public gallery (only once it is evaluated)."""
        if self.status is DesignStatus.PUBLISHED:
            return
        self._require_status("publish", DesignStatus.EVALUATED)
        self.trigger_event(self.DesignPublished)

    def archive(self, reason: str = "") -> None:
        """Retire the design from the gallery and from similarity search."""
        if self.status is DesignStatus.ARCHIVED:
            return
        self.trigger_event(self.DesignArchived, reason=reason.strip()[:MAX_REASON_CHARS])

    # -- queries -------------------------------------------------------------------------

    @property
    def is_public(self) -> bool:
        return self.status is DesignStatus.PUBLISHED

    def embedding(self) -> tuple[str, bytes] | None:
        """(model id, float16 bytes) of the image embedding, once embedded."""
        if self.embedding_model_id is None or self.embedding_f16 is None:
            return None
        return self.embedding_model_id, self.embedding_f16

    def _require_status(self, action: str, *allowed: DesignStatus) -> None:
        if self.status not in allowed:
            expected = " or ".join(s.value for s in allowed)
            raise InvariantViolationError(
                f"cannot {action} design {self.id}: it is {self.status.value}, not {expected}"
            )
