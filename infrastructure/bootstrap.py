"""The composition root: settings -> adapters -> applications. Nothing runs at import."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import psycopg
from eventsourcing.persistence import InfrastructureFactory

from application.ateliers import AteliersApplication
from application.catalog import CatalogApplication
from application.designs import DesignsApplication
from application.finance import FinanceApplication
from application.marketing import MarketingApplication
from application.ops import OpsApplication
from application.orders import OrdersApplication
from infrastructure.blobs.file_store import FileBlobStore
from infrastructure.crypto import build_sealer
from infrastructure.eventstore.factory import build_factory
from infrastructure.inference import MlModels
from infrastructure.search.follower import FollowedDesignNeighbours
from infrastructure.settings import Settings


@dataclass
class Container:
    """The long-lived objects of one process."""

    settings: Settings
    database_url: str
    factory: InfrastructureFactory
    catalog: CatalogApplication
    orders: OrdersApplication
    finance: FinanceApplication
    marketing: MarketingApplication
    ops: OpsApplication
    ateliers: AteliersApplication
    designs: DesignsApplication
    blobs: FileBlobStore
    ml: MlModels
    """The studio's models, loaded (or built) on first use."""
    design_neighbours: FollowedDesignNeighbours

    def close(self) -> None:
        for app in (
            self.catalog,
            self.orders,
            self.finance,
            self.marketing,
            self.ops,
            self.ateliers,
        ):
            app.close()
        self.designs.close()
        self.factory.close()


@contextmanager
def schema_lock(database_url: str) -> Iterator[None]:
    """Serialise schema creation across processes (concurrent CREATE ... IF NOT EXISTS and
    CREATE FUNCTION race in PostgreSQL: "tuple concurrently updated")."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("SELECT pg_advisory_lock(hashtext('modiste-event-store-schema'))")
        try:
            yield
        finally:
            conn.execute("SELECT pg_advisory_unlock(hashtext('modiste-event-store-schema'))")


def bootstrap(settings: Settings, database_url: str) -> Container:
    """Build the write side over PostgreSQL at ``database_url`` (creates tables if missing)."""
    with schema_lock(database_url):
        factory = build_factory(
            database_url,
            pool_size=settings.db_pool_size,
            max_overflow=settings.db_pool_max_overflow,
        )
        return Container(
            settings=settings,
            database_url=database_url,
            factory=factory,
            catalog=CatalogApplication(factory, settings.snapshot_interval),
            orders=OrdersApplication(factory, settings.snapshot_interval),
            finance=FinanceApplication(factory, settings.snapshot_interval),
            marketing=MarketingApplication(factory, settings.snapshot_interval),
            ops=OpsApplication(factory, settings.snapshot_interval),
            designs=DesignsApplication(factory, settings.snapshot_interval),
            blobs=FileBlobStore(settings.data_dir / "blobs"),
            ml=MlModels(settings),
            design_neighbours=FollowedDesignNeighbours(
                DesignsApplication(factory, settings.snapshot_interval)
            ),
            ateliers=AteliersApplication(
                factory, settings.snapshot_interval, sealer=build_sealer(settings)
            ),
        )
