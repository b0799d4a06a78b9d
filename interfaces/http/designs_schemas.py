"""msgspec bodies of the design studio endpoints, and presenters from aggregates and rows."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Annotated, Any

import msgspec
from msgspec import Meta

from domain.designs.aggregates import Design
from domain.designs.values import (
    DEFAULT_GUIDANCE,
    DEFAULT_STEPS,
    MAX_GUIDANCE,
    MAX_PALETTE_COLOURS,
    MAX_PROMPT_CHARS,
    MAX_SEED,
    MAX_SIDE,
    MAX_STEPS,
    MAX_STYLE_TERM_CHARS,
    MIN_SIDE,
    SIDE_MULTIPLE,
)
from interfaces.http.presenters import blob_url

StyleTerm = Annotated[str, Meta(min_length=1, max_length=MAX_STYLE_TERM_CHARS)]
Side = Annotated[
    int,
    Meta(
        ge=MIN_SIDE,
        le=MAX_SIDE,
        multiple_of=SIDE_MULTIPLE,
        description="Pixels; the model may accept only some sizes (its default when omitted)",
    ),
]


class DesignCreate(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    prompt: Annotated[
        str,
        Meta(
            min_length=1,
            max_length=MAX_PROMPT_CHARS,
            description="What to draw; moderated before generation",
            examples=["an evening gown for a winter gala"],
        ),
    ]
    negative_prompt: Annotated[str, Meta(max_length=MAX_PROMPT_CHARS)] = ""
    garment: StyleTerm | None = None
    fabric: StyleTerm | None = None
    silhouette: StyleTerm | None = None
    palette: Annotated[list[StyleTerm], Meta(max_length=MAX_PALETTE_COLOURS)] = msgspec.field(
        default_factory=list
    )
    seed: (
        Annotated[int, Meta(ge=0, le=MAX_SEED, description="Omit for a random (recorded) seed")]
        | None
    ) = None
    steps: Annotated[int, Meta(ge=1, le=MAX_STEPS)] = DEFAULT_STEPS
    guidance: Annotated[float, Meta(ge=0, le=MAX_GUIDANCE)] = DEFAULT_GUIDANCE
    width: Side | None = None
    height: Side | None = None


class Archival(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    reason: Annotated[str, Meta(max_length=200)] = ""


class DesignAccepted(msgspec.Struct, kw_only=True):
    id: uuid.UUID
    status: str
    seed: int
    position: int
    status_url: str


class StyleOut(msgspec.Struct, kw_only=True):
    garment: str | None
    fabric: str | None
    silhouette: str | None
    palette: list[str]


class ScoresOut(msgspec.Struct, kw_only=True):
    novelty: float | None
    prompt_alignment: float | None
    quality_flags: list[str]
    compared_with: int | None = None
    nearest_design_id: str | None = None


class ProvenanceOut(msgspec.Struct, kw_only=True):
    """Everything needed to draw the same image again."""

    enhanced_prompt: str | None
    negative_prompt: str | None
    seed: int
    steps: int
    guidance: float
    width: int | None
    height: int | None
    model_id: str | None
    model_hash: str | None
    generation_seconds: float | None
    embedding_model_id: str | None


class FailureOut(msgspec.Struct, kw_only=True):
    stage: str
    reason: str
    attempts: int


class DesignOut(msgspec.Struct, kw_only=True):
    id: uuid.UUID
    version: int
    status: str
    prompt: str
    negative_prompt: str
    style: StyleOut
    requested_by: str
    image_url: str | None
    scores: ScoresOut
    provenance: ProvenanceOut
    failure: FailureOut | None = None
    position: int | None = None


class DesignSummary(msgspec.Struct, kw_only=True):
    id: uuid.UUID
    status: str
    prompt: str
    style: StyleOut
    requested_by: str
    image_url: str | None
    novelty: float | None
    prompt_alignment: float | None
    quality_flags: list[str]
    model_hash: str | None
    seed: int
    requested_at: str
    published_at: str | None
    version: int


class DesignPage(msgspec.Struct, kw_only=True):
    items: list[DesignSummary]
    next_cursor: str | None
    position: int


def design_out(design: Design, position: int | None = None) -> DesignOut:
    failure = None
    if design.failure_reason is not None:
        failure = FailureOut(
            stage=design.failed_stage or "moderation",
            reason=design.failure_reason,
            attempts=design.attempts,
        )
    width, height = design.image_size or (design.width, design.height)
    return DesignOut(
        id=design.id,
        version=design.version,
        status=design.status.value,
        prompt=design.prompt,
        negative_prompt=design.negative_prompt,
        style=StyleOut(
            garment=design.style.garment,
            fabric=design.style.fabric,
            silhouette=design.style.silhouette,
            palette=list(design.style.palette),
        ),
        requested_by=design.requested_by,
        image_url=blob_url(design.image_sha256),
        scores=ScoresOut(
            novelty=design.novelty,
            prompt_alignment=design.prompt_alignment,
            quality_flags=list(design.quality_flags),
            compared_with=design.compared_with,
            nearest_design_id=design.nearest_design_id,
        ),
        provenance=ProvenanceOut(
            enhanced_prompt=design.enhanced_prompt,
            negative_prompt=design.enhanced_negative_prompt,
            seed=design.seed,
            steps=design.steps,
            guidance=design.guidance,
            width=width,
            height=height,
            model_id=design.model_id,
            model_hash=design.model_hash,
            generation_seconds=design.generation_seconds,
            embedding_model_id=design.embedding_model_id,
        ),
        failure=failure,
        position=position,
    )


def design_summary(row: Mapping[str, Any]) -> DesignSummary:
    style = row["style"] or {}
    return DesignSummary(
        id=row["design_id"],
        status=row["status"],
        prompt=row["prompt"],
        style=StyleOut(
            garment=style.get("garment"),
            fabric=style.get("fabric"),
            silhouette=style.get("silhouette"),
            palette=list(style.get("palette") or []),
        ),
        requested_by=row["requested_by"],
        image_url=blob_url(row["image_sha256"]),
        novelty=row["novelty"],
        prompt_alignment=row["prompt_alignment"],
        quality_flags=list(row["quality_flags"] or []),
        model_hash=row["model_hash"],
        seed=row["seed"],
        requested_at=row["requested_at"].isoformat(),
        published_at=row["published_at"].isoformat() if row["published_at"] else None,
        version=row["version"],
    )
