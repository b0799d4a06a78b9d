"""Every projector the system runs, by name."""

from __future__ import annotations

from projections.ateliers import AteliersProjector
from projections.base import Projector
from projections.campaigns import CampaignsProjector
from projections.catalog import CatalogProjector
from projections.designs import DesignsProjector
from projections.finance import FinanceProjector
from projections.ops import OpsProjector
from projections.orders import OrdersProjector


def all_projectors() -> dict[str, Projector]:
    projectors: list[Projector] = [CatalogProjector(), OrdersProjector(), AteliersProjector()]
    projectors += [FinanceProjector(), CampaignsProjector(), OpsProjector()]
    projectors.append(DesignsProjector())
    return {p.name: p for p in projectors}
