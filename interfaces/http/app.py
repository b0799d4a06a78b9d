"""The Litestar application factory and its lifespan (which owns every long-lived client)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import anyio.to_thread
import asyncpg
import nats
import structlog
from litestar import Litestar
from litestar.config.app import AppConfig
from litestar.config.cors import CORSConfig
from litestar.datastructures import State
from litestar.di import Provide
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import ScalarRenderPlugin, SwaggerRenderPlugin
from litestar.openapi.spec import Components, SecurityScheme
from nats.aio.client import Client as NatsClient

from infrastructure.bootstrap import Container, bootstrap
from infrastructure.idempotency import IdempotencyStore
from infrastructure.settings import Settings
from interfaces.http.auth import build_jwt_auth
from interfaces.http.context import correlation_middleware, echo_correlation_id
from interfaces.http.controllers.ateliers import AtelierController, AtelierMatchController
from interfaces.http.controllers.blobs import BlobController
from interfaces.http.controllers.campaigns import CampaignController
from interfaces.http.controllers.designs import DesignController
from interfaces.http.controllers.finance import FinanceController
from interfaces.http.controllers.metrics import MetricsController
from interfaces.http.controllers.orders import OrderController
from interfaces.http.controllers.partners import PartnerEventsController
from interfaces.http.controllers.product_images import ProductImageController
from interfaces.http.controllers.products import ProductController
from interfaces.http.controllers.search import SearchController
from interfaces.http.controllers.system import SystemController
from interfaces.http.errors import EXCEPTION_HANDLERS
from interfaces.http.metrics import metrics_outside_auth
from interfaces.http.vectors import provide_vectors, vector_lifespan
from projections.registry import all_projectors
from projections.runner import ensure_projection_tables

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class ApiConfig:
    """What the API needs beyond Settings: resolved server URLs and the JWT secret."""

    settings: Settings
    database_url: str
    nats_url: str
    jwt_secret: str


@dataclass
class Runtime:
    """Long-lived clients created in the lifespan and handed to handlers by DI."""

    container: Container
    db_pool: asyncpg.Pool
    nats: NatsClient
    idempotency: IdempotencyStore
    extras: dict[str, Any] = field(default_factory=dict)


def _runtime(state: State) -> Runtime:
    runtime = state.get("runtime")
    assert isinstance(runtime, Runtime), "the lifespan has not started"
    return runtime


def _provide_container(state: State) -> Container:
    return _runtime(state).container


def _provide_pool(state: State) -> asyncpg.Pool:
    return _runtime(state).db_pool


def _provide_nats(state: State) -> NatsClient:
    return _runtime(state).nats


def _provide_idempotency(state: State) -> IdempotencyStore:
    return _runtime(state).idempotency


def _correlation_outermost(app_config: AppConfig) -> AppConfig:
    app_config.middleware.insert(0, correlation_middleware)
    return app_config


def create_app(config: ApiConfig) -> Litestar:
    """Build the Litestar app; connections open in the lifespan, not here."""

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        container = await anyio.to_thread.run_sync(bootstrap, config.settings, config.database_url)
        pool = await asyncpg.create_pool(config.database_url, min_size=1, max_size=10)
        nc = await nats.connect(
            config.nats_url,
            name="modiste-api",
            max_reconnect_attempts=-1,
            reconnect_time_wait=0.5,
        )
        idempotency = IdempotencyStore(pool)
        await idempotency.create_schema()
        # The list endpoints read these tables even before any worker has run.
        for projector in all_projectors().values():
            await ensure_projection_tables(pool, projector)
        app.state.runtime = Runtime(container, pool, nc, idempotency)
        log.info(
            "api started",
            database=config.database_url.split("@")[-1],
            nats=config.nats_url.split("@")[-1],  # never log the credentials
        )
        try:
            yield
        finally:
            await nc.drain()
            await pool.close()
            await anyio.to_thread.run_sync(container.close)
            log.info("api stopped")

    settings = config.settings
    jwt_auth = build_jwt_auth(config.jwt_secret, settings.jwt_ttl_seconds)
    return Litestar(
        route_handlers=[
            SystemController,
            ProductController,
            OrderController,
            ProductImageController,
            DesignController,
            SearchController,
            BlobController,
            FinanceController,
            CampaignController,
            MetricsController,
            AtelierController,
            AtelierMatchController,
            PartnerEventsController,
        ],
        dependencies={
            "container": Provide(_provide_container, sync_to_thread=False),
            "db_pool": Provide(_provide_pool, sync_to_thread=False),
            "nats": Provide(_provide_nats, sync_to_thread=False),
            "idempotency": Provide(_provide_idempotency, sync_to_thread=False),
            "vectors": Provide(provide_vectors, sync_to_thread=False),
        },
        lifespan=[lifespan, vector_lifespan],
        before_send=[echo_correlation_id],
        # Correlation goes outermost so even a 401 carries X-Correlation-ID.
        on_app_init=[jwt_auth.on_app_init, metrics_outside_auth, _correlation_outermost],
        exception_handlers=EXCEPTION_HANDLERS,
        cors_config=CORSConfig(allow_origins=settings.cors_origins)
        if settings.cors_origins
        else None,
        request_max_body_size=settings.max_body_bytes,
        openapi_config=OpenAPIConfig(
            title="Modiste API",
            version="0.1.0",
            description="Event-sourced backend of an AI fashion house.",
            render_plugins=[ScalarRenderPlugin(), SwaggerRenderPlugin(path="/swagger")],
            path="/schema",
            components=Components(
                security_schemes={
                    "BearerToken": SecurityScheme(type="http", scheme="bearer", bearer_format="JWT")
                }
            ),
        ),
        debug=False,
    )
