"""Value objects and limits of the design studio."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from domain.shared.errors import ValidationError

MAX_PROMPT_CHARS = 1000
"""Hard limit on what a design request may carry (moderation has a tighter, softer rule)."""
MAX_STYLE_TERM_CHARS = 40
MAX_PALETTE_COLOURS = 6
MAX_SEED = 2**63 - 1
MIN_STEPS, MAX_STEPS = 1, 150
MIN_GUIDANCE, MAX_GUIDANCE = 0.0, 30.0
MIN_SIDE, MAX_SIDE, SIDE_MULTIPLE = 16, 4096, 8
DEFAULT_STEPS = 25
DEFAULT_GUIDANCE = 7.5


class DesignStatus(StrEnum):
    """Where a design is in the studio pipeline.

    requested -> enhanced -> generated -> embedded -> evaluated -> published, with two
    dead ends (rejected by moderation, failed generation) and archived reachable from all.
    """

    REQUESTED = "requested"
    REJECTED = "rejected"
    ENHANCED = "enhanced"
    GENERATED = "generated"
    EMBEDDED = "embedded"
    EVALUATED = "evaluated"
    FAILED = "failed"
    PUBLISHED = "published"
    ARCHIVED = "archived"


def _clean_term(value: str | None, name: str) -> str | None:
    if value is None:
        return None
    cleaned = " ".join(value.split()).lower()
    if not cleaned:
        return None
    if len(cleaned) > MAX_STYLE_TERM_CHARS:
        raise ValidationError(f"{name} is longer than {MAX_STYLE_TERM_CHARS} characters", name)
    return cleaned


@dataclass(frozen=True)
class StyleOptions:
    """Optional fashion direction: garment, fabric, silhouette and a colour palette.

    Terms are free text (lower-cased, whitespace collapsed); the prompt enhancer folds them
    into the prompt when the prompt does not already say them.
    """

    garment: str | None = None
    fabric: str | None = None
    silhouette: str | None = None
    palette: tuple[str, ...] = field(default_factory=tuple)

    @classmethod
    def of(
        cls,
        garment: str | None = None,
        fabric: str | None = None,
        silhouette: str | None = None,
        palette: tuple[str, ...] | list[str] = (),
    ) -> StyleOptions:
        """Validated, normalised options (ValidationError names the offending field)."""
        if len(palette) > MAX_PALETTE_COLOURS:
            raise ValidationError(f"a palette has at most {MAX_PALETTE_COLOURS} colours", "palette")
        colours: list[str] = []
        for colour in palette:
            cleaned = _clean_term(colour, "palette")
            if cleaned and cleaned not in colours:
                colours.append(cleaned)
        return cls(
            garment=_clean_term(garment, "garment"),
            fabric=_clean_term(fabric, "fabric"),
            silhouette=_clean_term(silhouette, "silhouette"),
            palette=tuple(colours),
        )

    def terms(self) -> list[str]:
        """Every non-empty term, for moderation."""
        return [t for t in (self.garment, self.fabric, self.silhouette, *self.palette) if t]
