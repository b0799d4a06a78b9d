"""DesignerAgent: the studio pipeline, one event per step, each step exactly once.

    DesignRequested       -> moderation -> DesignModerationFailed | DesignPromptEnhanced
    DesignPromptEnhanced  -> generation -> quality check -> blob store -> DesignGenerated
                                           (or DesignGenerationFailed)
    DesignGenerated       -> CLIP image + prompt embeddings -> DesignEmbedded
                             -> novelty and alignment -> DesignEvaluated
                                           (or DesignGenerationFailed)

Each step is a policy on the previous step's event, so a crash or a redelivery resumes at
the step that was not recorded, and the expensive work of a recorded step never runs again:
the step's events are saved in one transaction with the tracking record of the event that
caused them. Transient failures of the generator or the embedder (any exception but a
ValueError, which means the request itself is wrong for the model) are retried with
exponential backoff inside the step; after the last attempt the design records
DesignGenerationFailed with the reason and the number of attempts.

Novelty is measured against the embeddings other designs already recorded in their events
(``DesignNeighbours``), never by running a model on old designs.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt
import structlog
from eventsourcing.persistence import Tracking

from application.agents.base import Agent, Envelope
from application.agents.product_images import product_image_agent
from application.agents.retries import GaveUp, RetryPolicy, with_retries
from application.base import retry_on_conflict
from application.designs import DesignsApplication, ModelsUnavailableError
from application.ports import (
    BlobStore,
    GenerationRequest,
    ImageEmbedder,
    ImageGenerator,
    TextEmbedder,
    Vector,
)
from domain.designs.aggregates import Design
from domain.designs.moderation import moderate_prompt
from domain.designs.prompts import enhance_negative_prompt, enhance_prompt
from domain.designs.services import assess_image, novelty, prompt_alignment
from domain.designs.values import DesignStatus
from domain.shared.vectors import from_f16_bytes, to_f16_bytes

log = structlog.get_logger(__name__)

NAME = "agent-designer"
PNG = "image/png"


class SizedImageGenerator(ImageGenerator, Protocol):
    """A generator that also says which size it draws when none is asked for."""

    default_size: tuple[int, int]


class StudioModels(Protocol):
    """The models the studio runs, loaded on first use."""

    def generator(self) -> SizedImageGenerator: ...

    def image_embedder(self) -> ImageEmbedder: ...

    def text_embedder(self) -> TextEmbedder: ...


class PixelReader(Protocol):
    """Decodes encoded image bytes to an (H, W, C) uint8 array."""

    def __call__(self, data: bytes) -> npt.NDArray[np.uint8]: ...


@dataclass(frozen=True)
class Neighbourhood:
    """The most similar other design (if any) and how many designs were compared."""

    nearest_design_id: str | None
    similarity: float | None
    compared_with: int


class DesignNeighbours(Protocol):
    """Nearest recorded design embeddings of one model (read from the events, up to now)."""

    def nearest(self, model_id: str, vector: Vector, exclude: str) -> Neighbourhood: ...


class DesignerPolicies:
    """The pipeline's steps (see the module docstring)."""

    def __init__(
        self,
        designs: DesignsApplication,
        models: StudioModels,
        blobs: BlobStore,
        read_pixels: PixelReader,
        neighbours: DesignNeighbours,
        retry: RetryPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.designs = designs
        self.models = models
        self.blobs = blobs
        self.read_pixels = read_pixels
        self.neighbours = neighbours
        self.retry = retry or RetryPolicy()
        self.sleep = sleep

    # -- helpers ---------------------------------------------------------------------------

    def _design(self, envelope: Envelope) -> Design:
        return self.designs.load(uuid.UUID(envelope.aggregate_id), Design)

    def _commit(
        self,
        envelope: Envelope,
        tracking: Tracking,
        expected: DesignStatus,
        change: Callable[[Design], None],
    ) -> None:
        """Apply ``change`` to the fresh design and save it with ``tracking``.

        The expensive work happened before this; a concurrent change (an archive, say) makes
        us reload and re-check the status rather than redo the work.
        """

        def attempt() -> None:
            if self.designs.process_recorder.has_tracking_id(
                tracking.application_name, tracking.notification_id
            ):
                return
            design = self._design(envelope)
            if design.status is expected:
                change(design)
                self.designs.save_tracked(tracking, design)
            else:
                self.designs.save_tracked(tracking)

        retry_on_conflict(attempt)

    def _skip(self, design: Design, expected: DesignStatus, tracking: Tracking) -> bool:
        """True (and the event marked as handled) when the design has moved on."""
        if design.status is expected:
            return False
        log.info("designer.skipped", design_id=str(design.id), status=design.status.value)
        self.designs.save_tracked(tracking)
        return True

    # -- steps -----------------------------------------------------------------------------

    def on_design_requested(self, envelope: Envelope, tracking: Tracking) -> None:
        """Moderate the prompt, then enhance it (both pure and cheap)."""
        design = self._design(envelope)
        if self._skip(design, DesignStatus.REQUESTED, tracking):
            return
        verdict = moderate_prompt(design.prompt, design.style.terms())
        if not verdict.allowed:
            design.fail_moderation(verdict.rule or "policy", verdict.reason or "refused")
            log.info("designer.rejected", design_id=str(design.id), rule=verdict.rule)
        else:
            design.enhance_prompt(
                enhance_prompt(design.prompt, design.style),
                enhance_negative_prompt(design.negative_prompt),
            )
        self.designs.save_tracked(tracking, design)

    def on_design_prompt_enhanced(self, envelope: Envelope, tracking: Tracking) -> None:
        """Draw the image, check it, store it."""
        design = self._design(envelope)
        if self._skip(design, DesignStatus.ENHANCED, tracking):
            return
        generator = self.models.generator()
        default_width, default_height = generator.default_size
        width, height = design.width or default_width, design.height or default_height
        request = GenerationRequest(
            prompt=design.enhanced_prompt or design.prompt,
            negative_prompt=design.enhanced_negative_prompt or "",
            seed=design.seed,
            steps=design.steps,
            guidance=design.guidance,
            width=width,
            height=height,
        )
        outcome = with_retries(
            "generation", lambda: generator.generate(request), self.retry, self.sleep
        )
        if isinstance(outcome, GaveUp):
            failure = outcome
            self._commit(
                envelope,
                tracking,
                DesignStatus.ENHANCED,
                lambda d: d.fail_generation("generation", failure.reason, failure.attempts),
            )
            return
        image = outcome.value
        report = assess_image(self.read_pixels(image.png), width, height)
        if not report.passed:
            reason = f"quality check failed: {report.describe_failures()}"
            self._commit(
                envelope,
                tracking,
                DesignStatus.ENHANCED,
                lambda d: d.fail_generation("quality", reason, outcome.attempts),
            )
            return
        ref = self.blobs.put(image.png, PNG)
        self._commit(
            envelope,
            tracking,
            DesignStatus.ENHANCED,
            lambda d: d.record_generation(
                image_sha256=ref.sha256,
                media_type=ref.media_type,
                width=width,
                height=height,
                seed=image.seed,
                steps=image.steps,
                guidance=image.guidance,
                model_id=image.model_id,
                model_hash=image.model_hash,
                duration_seconds=image.duration_seconds,
            ),
        )

    def on_design_generated(self, envelope: Envelope, tracking: Tracking) -> None:
        """Embed the image and the prompt, then score novelty, alignment and quality."""
        design = self._design(envelope)
        if self._skip(design, DesignStatus.GENERATED, tracking):
            return
        assert design.image_sha256 is not None and design.image_size is not None
        png = self.blobs.get(design.image_sha256)
        image_embedder = self.models.image_embedder()
        text_embedder = self.models.text_embedder()

        def embed() -> tuple[Vector, Vector]:
            image_vector = image_embedder.embed_images([png])[0]
            text_vector = text_embedder.embed_texts([design.prompt])[0]
            return image_vector, text_vector

        outcome = with_retries("embedding", embed, self.retry, self.sleep)
        if isinstance(outcome, GaveUp):
            failure = outcome
            self._commit(
                envelope,
                tracking,
                DesignStatus.GENERATED,
                lambda d: d.fail_generation("embedding", failure.reason, failure.attempts),
            )
            return
        image_vector, text_vector = outcome.value
        vector_f16 = to_f16_bytes(image_vector)
        stored = from_f16_bytes(vector_f16)  # compare at the precision every reader sees
        model_id = image_embedder.model_id
        around = self.neighbours.nearest(model_id, stored, exclude=str(design.id))
        report = assess_image(self.read_pixels(png), *design.image_size)
        scores: dict[str, Any] = {
            "novelty": novelty(around.similarity),
            "prompt_alignment": prompt_alignment(text_vector, image_vector),
            "quality_flags": list(report.flags),
            "compared_with": around.compared_with,
            "nearest_design_id": around.nearest_design_id,
        }

        def record(d: Design) -> None:
            d.record_embedding(model_id, vector_f16)
            d.record_evaluation(**scores)

        self._commit(envelope, tracking, DesignStatus.GENERATED, record)
        log.info("designer.evaluated", design_id=str(design.id), **scores)


def designer_agent(
    designs: DesignsApplication,
    models: StudioModels,
    blobs: BlobStore,
    read_pixels: PixelReader,
    neighbours: DesignNeighbours,
    retry: RetryPolicy | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> Agent:
    policies = DesignerPolicies(designs, models, blobs, read_pixels, neighbours, retry, sleep)
    handlers: dict[str, Any] = {
        "DesignRequested": policies.on_design_requested,
        "DesignPromptEnhanced": policies.on_design_prompt_enhanced,
        "DesignGenerated": policies.on_design_generated,
    }
    return Agent(NAME, ["designs"], handlers, designs)


def studio_agents(container: Any) -> list[Agent]:
    """The designer and product-image agents, or none when the models cannot be provided.

    Both need the ML models. When none are exported and none can be built here (no torch),
    they are not started: the error says how to export models and an ops alert
    (``model_load``) records it; their events wait in JetStream until a restart with models.
    The other agents run on.
    """
    try:
        container.ml.check_available()
    except ModelsUnavailableError as exc:
        log.error(
            "agents.models_unavailable", agents=["designer", "product-images"], error=str(exc)
        )
        container.ops.raise_alert("model_load", "agent-designer", "critical", str(exc)[:1000])
        return []
    if container.ml.export_ready():
        # Load the sessions now rather than on the first design (real models take a while);
        # tiny models still to be built are built on first use instead.
        threading.Thread(target=container.ml.warm_up, name="ml-warm-up", daemon=True).start()
    retry = RetryPolicy(attempts=container.settings.studio.generation_attempts)
    return [
        designer_agent(
            container.designs,
            container.ml,
            container.blobs,
            container.ml.read_pixels,
            container.design_neighbours,
            retry,
        ),
        product_image_agent(container.catalog, container.ml, container.blobs, retry),
    ]
