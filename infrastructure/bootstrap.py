"""The composition root: settings -> adapters -> applications. Nothing runs at import."""

from __future__ import annotations

from dataclasses import dataclass

from eventsourcing.persistence import InfrastructureFactory

from application.catalog import CatalogApplication
from application.orders import OrdersApplication
from infrastructure.eventstore.factory import build_factory
from infrastructure.settings import Settings


@dataclass
class Container:
    """The long-lived objects of one process."""

    settings: Settings
    database_url: str
    factory: InfrastructureFactory
    catalog: CatalogApplication
    orders: OrdersApplication

    def close(self) -> None:
        for app in (self.catalog, self.orders):
            app.close()
        self.factory.close()


def bootstrap(settings: Settings, database_url: str) -> Container:
    """Build the write side over PostgreSQL at ``database_url`` (creates tables if missing)."""
    factory = build_factory(
        database_url,
        pool_size=settings.db_pool_size,
        max_overflow=settings.db_pool_max_overflow,
    )
    return Container(
        settings=settings,
        database_url=database_url,
        factory=factory,
        catalog=CatalogApplication(factory),
        orders=OrdersApplication(factory),
    )
