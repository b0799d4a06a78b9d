"""ProductImageAgent: every product image is embedded with CLIP exactly once.

On ProductListed (with an image) and ProductImageAttached it reads the stored image, embeds
it and records ProductImageEmbedded (float16 bytes) on the product, in one transaction with
the tracking record. The vector index is built from those events (a projection), so search
never embeds a catalogue image again. An image replaced before its embedding ran is skipped:
the later event embeds the later image.

Transient embedder failures are retried with backoff inside the step; if they persist the
error propagates, so the consumer redelivers and finally dead-letters it with an ops alert.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from typing import Any, Protocol

import structlog
from eventsourcing.persistence import Tracking

from application.agents.base import Agent, Envelope
from application.agents.retries import GaveUp, RetryPolicy, with_retries
from application.base import retry_on_conflict
from application.catalog import CatalogApplication
from application.ports import BlobStore, ImageEmbedder
from domain.catalog.aggregates import Product
from domain.shared.vectors import to_f16_bytes

log = structlog.get_logger(__name__)

NAME = "agent-product-images"


class ImageModels(Protocol):
    def image_embedder(self) -> ImageEmbedder: ...


class ProductImageEmbeddingError(RuntimeError):
    """The embedder kept failing on a product image (the consumer will redeliver)."""


class ProductImagePolicies:
    def __init__(
        self,
        catalog: CatalogApplication,
        models: ImageModels,
        blobs: BlobStore,
        retry: RetryPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.catalog = catalog
        self.models = models
        self.blobs = blobs
        self.retry = retry or RetryPolicy()
        self.sleep = sleep

    def on_product_image(self, envelope: Envelope, tracking: Tracking) -> None:
        image_sha256 = envelope.data.get("image_sha256")
        if not image_sha256:
            return  # a product listed without an image: nothing to embed, nothing to record
        product_id = uuid.UUID(envelope.aggregate_id)
        product = self.catalog.load(product_id, Product)
        if product.image_sha256 != image_sha256 or not product.is_listed:
            self.catalog.save_tracked(tracking)  # a newer image (or none) is current now
            return
        data = self.blobs.get(image_sha256)
        embedder = self.models.image_embedder()
        outcome = with_retries(
            "product image embedding",
            lambda: embedder.embed_images([data])[0],
            self.retry,
            self.sleep,
        )
        if isinstance(outcome, GaveUp):
            raise ProductImageEmbeddingError(outcome.reason)
        vector_f16 = to_f16_bytes(outcome.value)

        def attempt() -> None:
            if self.catalog.process_recorder.has_tracking_id(
                tracking.application_name, tracking.notification_id
            ):
                return
            fresh = self.catalog.load(product_id, Product)
            if fresh.image_sha256 == image_sha256:
                fresh.record_image_embedding(embedder.model_id, vector_f16)
                self.catalog.save_tracked(tracking, fresh)
            else:
                self.catalog.save_tracked(tracking)

        retry_on_conflict(attempt)
        log.info("product_image.embedded", product_id=str(product_id), model=embedder.model_id)


def product_image_agent(
    catalog: CatalogApplication,
    models: ImageModels,
    blobs: BlobStore,
    retry: RetryPolicy | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> Agent:
    policies = ProductImagePolicies(catalog, models, blobs, retry, sleep)
    handlers: dict[str, Any] = {
        "ProductListed": policies.on_product_image,
        "ProductImageAttached": policies.on_product_image,
    }
    return Agent(NAME, ["catalog"], handlers, catalog)
