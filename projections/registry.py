"""Every projector the system runs, by name."""

from __future__ import annotations

from projections.ateliers import AteliersProjector
from projections.base import Projector
from projections.catalog import CatalogProjector
from projections.orders import OrdersProjector


def all_projectors() -> dict[str, Projector]:
    projectors: list[Projector] = [CatalogProjector(), OrdersProjector(), AteliersProjector()]
    return {p.name: p for p in projectors}
