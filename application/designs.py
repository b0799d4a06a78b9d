"""Design studio use cases: request, publish, archive and read designs.

Requesting a design only records ``DesignRequested`` and returns at once (the API answers
202); the designer agent (``application/agents/designer.py``) moderates, enhances, draws,
embeds and evaluates it, one event per step.
"""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass, field

from application.base import CommandResult, ModisteApplication, last_position
from application.errors import ApplicationError
from domain.designs.aggregates import Design
from domain.designs.values import DEFAULT_GUIDANCE, DEFAULT_STEPS, MAX_SEED, StyleOptions


class ModelsUnavailableError(ApplicationError):
    """The ML models cannot be loaded (none exported, and none can be built here).

    The message says how to provide them (``modiste models export`` or ``build-tiny``).
    """


@dataclass(frozen=True)
class RequestDesign:
    """What a designer asks for. ``seed`` None draws a random one (recorded, so the design
    can be reproduced); ``width``/``height`` None take the model's default size."""

    prompt: str
    requested_by: str
    negative_prompt: str = ""
    garment: str | None = None
    fabric: str | None = None
    silhouette: str | None = None
    palette: tuple[str, ...] = field(default_factory=tuple)
    seed: int | None = None
    steps: int = DEFAULT_STEPS
    guidance: float = DEFAULT_GUIDANCE
    width: int | None = None
    height: int | None = None


def random_seed() -> int:
    """A seed for a request that named none (uniform over the generator's range)."""
    return secrets.randbelow(MAX_SEED + 1)


class DesignsApplication(ModisteApplication):
    """The design studio's command and query façade."""

    def request_design(self, command: RequestDesign) -> CommandResult[Design]:
        style = StyleOptions.of(
            garment=command.garment,
            fabric=command.fabric,
            silhouette=command.silhouette,
            palette=command.palette,
        )
        design = Design.request(
            prompt=command.prompt,
            negative_prompt=command.negative_prompt,
            style=style,
            seed=random_seed() if command.seed is None else command.seed,
            steps=command.steps,
            guidance=command.guidance,
            width=command.width,
            height=command.height,
            requested_by=command.requested_by,
        )
        return CommandResult(design, last_position(self.save(design)))

    def publish(
        self, design_id: uuid.UUID, *, expected_version: int | None = None
    ) -> CommandResult[Design]:
        return self.execute(
            design_id, Design, lambda d: d.publish(), expected_version=expected_version
        )

    def archive(
        self, design_id: uuid.UUID, reason: str = "", *, expected_version: int | None = None
    ) -> CommandResult[Design]:
        return self.execute(
            design_id, Design, lambda d: d.archive(reason), expected_version=expected_version
        )

    def get_design(self, design_id: uuid.UUID) -> Design:
        return self.load(design_id, Design)
