"""Prompt moderation: the documented rules a design prompt must pass before it is drawn.

Rules, checked in this order (the first broken rule is the verdict):

``too_short``
    The prompt has fewer than ``MIN_LETTERS`` letters: nothing to draw.
``too_long``
    The prompt is longer than ``MAX_MODERATED_CHARS`` characters. The text encoder reads
    77 tokens (about 300-400 characters of English); a longer prompt would be cut silently
    and drawn as something other than what was asked.
``denied_term``
    The prompt or a style option contains a term of the deny-list below. Matching is on
    whole words after normalisation (Unicode NFKC, case folding, accents stripped, common
    digit-for-letter substitutions undone: ``n4k3d`` reads ``naked``), so ``glasses`` does
    not match ``ass`` and ``Nazi``, ``NAZI`` and ``n4zi`` all match ``nazi``.

The deny-list is deliberately small and explicit (a studio policy, not a classifier): sexual
content, graphic violence, hate symbols, minors, real-person likeness, and counterfeits of
protected brands. It is data, so extending it is a reviewed one-line change. The negative
prompt is not moderated: it lists what the image must *not* show.

Pure: no I/O.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

MIN_LETTERS = 3
MAX_MODERATED_CHARS = 400

DENY_LIST: Mapping[str, str] = {
    # sexual content
    "nude": "sexual content",
    "nudity": "sexual content",
    "naked": "sexual content",
    "nsfw": "sexual content",
    "topless": "sexual content",
    "porn": "sexual content",
    "pornographic": "sexual content",
    "explicit": "sexual content",
    "erotic": "sexual content",
    # graphic violence
    "gore": "graphic violence",
    "gory": "graphic violence",
    "corpse": "graphic violence",
    "mutilated": "graphic violence",
    "decapitated": "graphic violence",
    "massacre": "graphic violence",
    "bloodbath": "graphic violence",
    # hate
    "nazi": "hate symbol",
    "swastika": "hate symbol",
    "kkk": "hate symbol",
    "white power": "hate symbol",
    # minors
    "underage": "minors",
    "schoolgirl": "minors",
    "lolita": "minors",
    # real-person likeness
    "deepfake": "real-person likeness",
    "celebrity": "real-person likeness",
    "look alike": "real-person likeness",
    "lookalike": "real-person likeness",
    # counterfeits of protected brands
    "counterfeit": "counterfeit",
    "replica": "counterfeit",
    "knockoff": "counterfeit",
    "knock off": "counterfeit",
    "bootleg": "counterfeit",
    "gucci": "protected brand",
    "chanel": "protected brand",
    "louis vuitton": "protected brand",
    "hermes": "protected brand",
    "prada": "protected brand",
    "dior": "protected brand",
    "nike": "protected brand",
    "adidas": "protected brand",
    "supreme logo": "protected brand",
}

_LEET = str.maketrans(
    {"0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t", "@": "a", "$": "s"}
)
_WORD = re.compile(r"[a-z]+")


@dataclass(frozen=True)
class ModerationVerdict:
    """Allowed, or refused with the rule broken and a reason a designer can act on."""

    allowed: bool
    rule: str | None = None
    reason: str | None = None


ALLOWED = ModerationVerdict(True)


def normalise(text: str) -> str:
    """NFKC, case-folded, accents stripped, digit-for-letter substitutions undone."""
    folded = unicodedata.normalize("NFKC", text).casefold()
    stripped = "".join(
        c for c in unicodedata.normalize("NFKD", folded) if not unicodedata.combining(c)
    )
    return stripped.translate(_LEET)


def words(text: str) -> list[str]:
    """The normalised words of ``text`` (letters only)."""
    return _WORD.findall(normalise(text))


def _deny_terms() -> list[tuple[tuple[str, ...], str, str]]:
    return [(tuple(words(term)), term, category) for term, category in DENY_LIST.items()]


def find_denied_term(texts: Iterable[str]) -> tuple[str, str] | None:
    """The first (term, category) of the deny-list found in ``texts``, or None."""
    terms = _deny_terms()
    for text in texts:
        tokens = words(text)
        for start in range(len(tokens)):
            for parts, term, category in terms:
                if tuple(tokens[start : start + len(parts)]) == parts:
                    return term, category
    return None


def moderate_prompt(prompt: str, style_terms: Iterable[str] = ()) -> ModerationVerdict:
    """Check ``prompt`` (and the style options) against the rules above."""
    letters = sum(1 for c in prompt if c.isalpha())
    if letters < MIN_LETTERS:
        return ModerationVerdict(
            False,
            "too_short",
            f"the prompt has {letters} letters; describe the design in at least {MIN_LETTERS}",
        )
    if len(prompt) > MAX_MODERATED_CHARS:
        return ModerationVerdict(
            False,
            "too_long",
            f"the prompt is {len(prompt)} characters; the model reads at most about "
            f"{MAX_MODERATED_CHARS}, so shorten it",
        )
    found = find_denied_term([prompt, *style_terms])
    if found is not None:
        term, category = found
        return ModerationVerdict(
            False,
            "denied_term",
            f"the request mentions {term!r}, which the studio does not draw ({category})",
        )
    return ALLOWED
