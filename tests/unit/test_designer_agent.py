"""The designer and product-image agents' policies, with fake models on an in-memory store.

Events are delivered the way the consumer runtime delivers them (envelopes from the
notification log, metadata bound from the envelope), one pass at a time, until the pipeline
has nothing left to do.
"""

from __future__ import annotations

import hashlib
import io
import threading
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import numpy.typing as npt
import pytest
from eventsourcing.persistence import InfrastructureFactory
from eventsourcing.utils import Environment
from PIL import Image

from application.agents.base import Agent
from application.agents.designer import designer_agent, studio_agents
from application.agents.product_images import ProductImageEmbeddingError, product_image_agent
from application.agents.retries import RetryPolicy, with_retries
from application.catalog import CatalogApplication, ListProduct
from application.designs import DesignsApplication, ModelsUnavailableError, RequestDesign
from application.ports import GeneratedImage, GenerationRequest
from domain.designs.aggregates import Design
from domain.designs.values import DesignStatus
from domain.shared.metadata import EventMetadata, bound_metadata
from domain.shared.money import Money
from domain.shared.vectors import from_f16_bytes
from infrastructure.blobs.file_store import FileBlobStore
from infrastructure.eventstore.log import EventLog
from infrastructure.eventstore.transcodings import ModisteTranscoder
from infrastructure.inference import read_pixels
from infrastructure.search.follower import FollowedDesignNeighbours
from infrastructure.settings import StudioSettings

NO_WAIT = RetryPolicy(attempts=3, initial_wait_seconds=0.01, max_wait_seconds=0.05)


def png_bytes(pixels: npt.NDArray[np.uint8]) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels, "RGB").save(buffer, format="PNG")
    return buffer.getvalue()


@dataclass
class FakeGenerator:
    """Draws seeded noise; can fail a number of times first, or always."""

    failures: int = 0
    error: Exception = field(default_factory=lambda: RuntimeError("CUDA out of memory"))
    blank: bool = False
    model_id: str = "fake-diffusion"
    model_hash: str = "f" * 64
    default_size: tuple[int, int] = (32, 32)
    calls: int = 0

    def generate(self, request: GenerationRequest) -> GeneratedImage:
        self.calls += 1
        if self.calls <= self.failures:
            raise self.error
        seed = int.from_bytes(
            hashlib.sha256(f"{request.prompt}|{request.seed}".encode()).digest()[:8], "big"
        )
        rng = np.random.default_rng(seed)
        shape = (request.height, request.width, 3)
        pixels = (
            np.full(shape, 120, dtype=np.uint8)
            if self.blank
            else rng.integers(0, 256, shape, dtype=np.uint8)
        )
        return GeneratedImage(
            png=png_bytes(pixels),
            model_id=self.model_id,
            model_hash=self.model_hash,
            seed=request.seed,
            steps=request.steps,
            guidance=request.guidance,
            duration_seconds=0.01,
        )


@dataclass
class FakeClip:
    """A deterministic 'embedding': a unit vector drawn from the input's hash."""

    failures: int = 0
    model_id: str = "fake-clip"
    dimensions: int = 8
    calls: int = 0

    def _vector(self, data: bytes) -> npt.NDArray[np.float32]:
        rng = np.random.default_rng(int.from_bytes(hashlib.sha256(data).digest()[:8], "big"))
        vector = rng.normal(size=self.dimensions).astype(np.float32)
        return vector / np.linalg.norm(vector)

    def embed_images(self, images: Sequence[bytes]) -> npt.NDArray[np.float32]:
        self.calls += 1
        if self.calls <= self.failures:
            raise TimeoutError("embedder busy")
        return np.stack([self._vector(image) for image in images])

    def embed_texts(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        return np.stack([self._vector(text.encode()) for text in texts])


@dataclass
class FakeModels:
    gen: FakeGenerator = field(default_factory=FakeGenerator)
    clip: FakeClip = field(default_factory=FakeClip)

    def generator(self) -> FakeGenerator:
        return self.gen

    def image_embedder(self) -> FakeClip:
        return self.clip

    def text_embedder(self) -> FakeClip:
        return self.clip


class Studio:
    """Applications on one in-memory store, the agents, and a delivery loop."""

    def __init__(self, tmp_path: Path, models: FakeModels | None = None) -> None:
        factory = InfrastructureFactory.construct(
            Environment(
                name="modiste",
                env={
                    "PERSISTENCE_MODULE": "eventsourcing.popo",
                    "TRANSCODER_TOPIC": "infrastructure.eventstore.transcodings:ModisteTranscoder",
                },
            )
        )
        assert ModisteTranscoder  # the topic above names it
        shared = factory.process_recorder()
        # One in-memory store for every Application, as the PostgreSQL tables are shared.
        factory.process_recorder = lambda: shared  # type: ignore[method-assign]
        self.designs = DesignsApplication(factory)
        self.catalog = CatalogApplication(factory)
        self.models = models or FakeModels()
        self.blobs = FileBlobStore(tmp_path / "blobs")
        self.sleeps: list[float] = []
        self.designer = designer_agent(
            self.designs,
            self.models,
            self.blobs,
            read_pixels,
            FollowedDesignNeighbours(self.designs),
            NO_WAIT,
            sleep=self.sleeps.append,
        )
        self.images = product_image_agent(
            self.catalog, self.models, self.blobs, NO_WAIT, sleep=self.sleeps.append
        )
        self.log = EventLog(self.designs)
        self.position = 0

    def deliver(self, agent: Agent, envelope: object) -> None:
        with bound_metadata(
            EventMetadata(envelope.correlation_id, envelope.event_id, f"agent:{agent.name}")  # type: ignore[attr-defined]
        ):
            agent.process(envelope)  # type: ignore[arg-type]

    def run(self) -> None:
        """Deliver every new event to every agent until nothing new is recorded."""
        while True:
            batch = self.log.read(self.position, 1000)
            if not batch:
                return
            for envelope in batch:
                for agent in (self.designer, self.images):
                    self.deliver(agent, envelope)
            self.position = batch[-1].position

    def request(self, prompt: str = "an oversized linen blazer", **kwargs: object) -> Design:
        with bound_metadata(EventMetadata("corr-1", "http:1", "designer:d1")):
            result = self.designs.request_design(
                RequestDesign(prompt=prompt, requested_by="designer:d1", **kwargs)  # type: ignore[arg-type]
            )
        return result.aggregate

    def events(self, design_id: uuid.UUID) -> list[str]:
        return [e.type for e in self.log.iterate(0) if e.aggregate_id == str(design_id)]


@pytest.fixture
def studio(tmp_path: Path) -> Studio:
    return Studio(tmp_path)


def test_a_request_goes_through_every_step_with_one_correlation_id(studio: Studio) -> None:
    design = studio.request(seed=7, steps=4, fabric="linen")
    studio.run()
    done = studio.designs.get_design(design.id)
    assert done.status is DesignStatus.EVALUATED
    assert studio.events(design.id) == [
        "DesignRequested",
        "DesignPromptEnhanced",
        "DesignGenerated",
        "DesignEmbedded",
        "DesignEvaluated",
    ]
    envelopes = [e for e in studio.log.iterate(0) if e.aggregate_id == str(design.id)]
    assert {e.correlation_id for e in envelopes} == {"corr-1"}
    assert [e.actor for e in envelopes][1:] == ["agent:agent-designer"] * 4
    assert done.enhanced_prompt and "natural slub texture" in done.enhanced_prompt
    assert studio.blobs.exists(done.image_sha256 or "")
    assert done.image_size == (32, 32) and done.model_hash == "f" * 64
    assert done.novelty == 1.0 and done.compared_with == 0
    assert done.quality_flags == ["low_resolution"]
    assert from_f16_bytes(done.embedding()[1]).shape == (8,)  # type: ignore[index]


def test_the_same_prompt_and_seed_give_the_same_image_and_zero_novelty(studio: Studio) -> None:
    first = studio.request("a red silk gown", seed=3)
    studio.run()
    second = studio.request("a red silk gown", seed=3)
    studio.run()
    a, b = studio.designs.get_design(first.id), studio.designs.get_design(second.id)
    assert a.image_sha256 == b.image_sha256
    assert b.novelty == 0.0 and b.nearest_design_id == str(first.id) and b.compared_with == 1
    third = studio.request("a red silk gown", seed=4)
    studio.run()
    c = studio.designs.get_design(third.id)
    assert c.image_sha256 != a.image_sha256 and 0.0 < (c.novelty or 0.0) <= 1.0


def test_a_refused_prompt_stops_before_any_model_runs(studio: Studio) -> None:
    design = studio.request("a gown soaked in gore")
    studio.run()
    rejected = studio.designs.get_design(design.id)
    assert rejected.status is DesignStatus.REJECTED
    assert "gore" in (rejected.failure_reason or "")
    assert studio.events(design.id) == ["DesignRequested", "DesignModerationFailed"]
    assert studio.models.gen.calls == 0


def test_transient_generator_failures_are_retried_with_backoff(tmp_path: Path) -> None:
    studio = Studio(tmp_path, FakeModels(gen=FakeGenerator(failures=2)))
    design = studio.request()
    studio.run()
    assert studio.designs.get_design(design.id).status is DesignStatus.EVALUATED
    assert studio.models.gen.calls == 3
    assert len(studio.sleeps) == 2 and studio.sleeps[0] <= studio.sleeps[1]


def test_a_generator_that_keeps_failing_fails_the_design_with_the_attempts(tmp_path: Path) -> None:
    studio = Studio(tmp_path, FakeModels(gen=FakeGenerator(failures=99)))
    design = studio.request()
    studio.run()
    failed = studio.designs.get_design(design.id)
    assert failed.status is DesignStatus.FAILED
    assert (failed.failed_stage, failed.attempts) == ("generation", 3)
    assert "CUDA out of memory" in (failed.failure_reason or "")
    assert studio.events(design.id)[-1] == "DesignGenerationFailed"


def test_a_request_the_model_cannot_serve_is_not_retried(tmp_path: Path) -> None:
    generator = FakeGenerator(failures=99, error=ValueError("width must be a multiple of 16"))
    studio = Studio(tmp_path, FakeModels(gen=generator))
    design = studio.request(width=24, height=24)
    studio.run()
    failed = studio.designs.get_design(design.id)
    assert (failed.status, failed.attempts, generator.calls) == (DesignStatus.FAILED, 1, 1)
    assert "multiple of 16" in (failed.failure_reason or "")


def test_a_blank_image_fails_the_quality_check(tmp_path: Path) -> None:
    studio = Studio(tmp_path, FakeModels(gen=FakeGenerator(blank=True)))
    design = studio.request()
    studio.run()
    failed = studio.designs.get_design(design.id)
    assert (failed.status, failed.failed_stage) == (DesignStatus.FAILED, "quality")
    assert "blank" in (failed.failure_reason or "")


def test_an_embedder_that_keeps_failing_fails_the_design(tmp_path: Path) -> None:
    studio = Studio(tmp_path, FakeModels(clip=FakeClip(failures=99)))
    design = studio.request()
    studio.run()
    failed = studio.designs.get_design(design.id)
    assert (failed.status, failed.failed_stage, failed.attempts) == (
        DesignStatus.FAILED,
        "embedding",
        3,
    )


def test_a_redelivered_event_runs_its_step_once(studio: Studio) -> None:
    design = studio.request()
    studio.run()
    generator_calls = studio.models.gen.calls
    for envelope in list(studio.log.iterate(0)):
        studio.deliver(studio.designer, envelope)
    assert studio.models.gen.calls == generator_calls == 1
    assert len(studio.events(design.id)) == 5


def test_a_design_archived_mid_pipeline_is_not_drawn(studio: Studio) -> None:
    design = studio.request()
    studio.designs.archive(design.id, "changed my mind")
    studio.run()
    assert studio.designs.get_design(design.id).status is DesignStatus.ARCHIVED
    assert studio.models.gen.calls == 0


def test_missing_models_propagate_instead_of_failing_the_design() -> None:
    def unavailable() -> None:
        raise ModelsUnavailableError("no models")

    with pytest.raises(ModelsUnavailableError):
        with_retries("generation", unavailable, NO_WAIT, sleep=lambda _: None)


# -- product images ---------------------------------------------------------------------------


def list_with_image(studio: Studio, image: bytes) -> uuid.UUID:
    product = studio.catalog.list_product(
        ListProduct(
            title="Linen blazer",
            description="",
            category="jackets",
            brand="b",
            price=Money(12000, "EUR"),
        )
    ).aggregate
    ref = studio.blobs.put(image, "image/png")
    studio.catalog.attach_image(product.id, ref.sha256, "image/png", 32, 32)
    return product.id


def test_a_product_image_is_embedded_exactly_once(studio: Studio) -> None:
    image = png_bytes(np.random.default_rng(1).integers(0, 256, (32, 32, 3), dtype=np.uint8))
    product_id = list_with_image(studio, image)
    studio.run()
    for envelope in list(studio.log.iterate(0)):  # redelivery
        studio.deliver(studio.images, envelope)
    embedded = [
        e
        for e in studio.log.iterate(0)
        if e.type == "ProductImageEmbedded" and e.aggregate_id == str(product_id)
    ]
    assert len(embedded) == 1
    assert embedded[0].data["model_id"] == "fake-clip"
    assert studio.catalog.get_product(product_id).embedding_model_id == "fake-clip"


def test_a_replaced_image_is_embedded_once_for_the_latest_image(studio: Studio) -> None:
    rng = np.random.default_rng(2)
    first, second = (png_bytes(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)) for _ in "ab")
    product_id = list_with_image(studio, first)
    ref = studio.blobs.put(second, "image/png")
    studio.catalog.attach_image(product_id, ref.sha256, "image/png", 32, 32)
    studio.run()
    embedded = [e for e in studio.log.iterate(0) if e.type == "ProductImageEmbedded"]
    assert len(embedded) == 1
    assert studio.models.clip.calls == 1


def test_an_embedder_that_keeps_failing_on_a_product_image_raises_for_redelivery(
    tmp_path: Path,
) -> None:
    studio = Studio(tmp_path, FakeModels(clip=FakeClip(failures=99)))
    list_with_image(studio, png_bytes(np.zeros((4, 4, 3), dtype=np.uint8)))
    with pytest.raises(ProductImageEmbeddingError, match="embedder busy"):
        studio.run()


# -- wiring -----------------------------------------------------------------------------------


def test_without_models_the_studio_agents_stay_off_with_an_ops_alert(studio: Studio) -> None:
    class NoModels(FakeModels):
        def check_available(self) -> None:
            raise ModelsUnavailableError("no models; pip install 'modiste[export]'")

    alerts: list[tuple[object, ...]] = []
    container = SimpleNamespace(
        ml=NoModels(),
        ops=SimpleNamespace(raise_alert=lambda *args: alerts.append(args)),
        settings=SimpleNamespace(studio=StudioSettings()),
    )
    assert studio_agents(container) == []
    assert alerts == [
        ("model_load", "agent-designer", "critical", "no models; pip install 'modiste[export]'")
    ]


def test_with_models_both_studio_agents_run(studio: Studio) -> None:
    warmed = threading.Event()

    class Models(FakeModels):
        def check_available(self) -> None:
            return None

        def export_ready(self) -> bool:
            return True

        def warm_up(self) -> None:
            warmed.set()

        read_pixels = staticmethod(read_pixels)

    container = SimpleNamespace(
        ml=Models(),
        designs=studio.designs,
        catalog=studio.catalog,
        blobs=studio.blobs,
        design_neighbours=FollowedDesignNeighbours(studio.designs),
        settings=SimpleNamespace(studio=StudioSettings(generation_attempts=5)),
    )
    agents = studio_agents(container)
    assert [(a.name, a.contexts) for a in agents] == [
        ("agent-designer", ["designs"]),
        ("agent-product-images", ["catalog"]),
    ]
    assert warmed.wait(5)  # the models load in the background at worker start
