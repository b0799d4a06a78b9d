"""Prompt enhancement: a designer's words plus the fashion context a diffusion model needs.

Deterministic and pure: the same prompt and style options always give the same enhanced
prompt, which is stored on the design (``DesignPromptEnhanced``), so a design can be drawn
again from its events alone.

The enhanced prompt is a comma-separated list of clauses, the designer's own words first
(the text encoder reads about 77 tokens and cuts the rest, so the least important clauses
go last):

1. the prompt, whitespace collapsed;
2. the style options the prompt does not already say: the garment, ``<silhouette>
   silhouette``, ``<fabric> fabric`` and ``<colours> colour palette``;
3. from the studio's vocabulary, for the first fabric named (in the prompt or the options)
   its texture (``silk`` -> ``lustrous fluid drape``), and for the first garment named its
   framing (a gown is shown full length on a model, a handbag as a product shot);
4. a fixed fashion-photography suffix (``STYLE_SUFFIX``).

Nothing is invented: with no garment or fabric named, no framing or texture is added.
Clauses already present (case-insensitively) are not repeated. The negative prompt gets the
usual artefact terms (``BASE_NEGATIVE``) appended the same way.
"""

from __future__ import annotations

from collections.abc import Iterable

from domain.designs.values import StyleOptions

GARMENT_FRAMING: dict[str, str] = {
    # garment -> how the image frames it
    **dict.fromkeys(
        ("gown", "dress", "jumpsuit", "romper", "suit", "tuxedo", "coat", "trench coat",
         "cape", "kimono", "kaftan", "sari", "trousers", "pants", "jeans"),
        "full-length view on a model",
    ),
    **dict.fromkeys(
        ("skirt", "shorts", "blouse", "shirt", "t-shirt", "top", "corset", "bodysuit",
         "jacket", "blazer", "parka", "poncho", "vest", "waistcoat", "sweater", "jumper",
         "cardigan", "hoodie", "tunic"),
        "three-quarter view on a model",
    ),
    **dict.fromkeys(
        ("scarf", "hat", "boots", "sneakers", "heels", "handbag", "tote"),
        "product shot",
    ),
}  # fmt: skip
GARMENTS: tuple[str, ...] = tuple(GARMENT_FRAMING)
FABRIC_TEXTURE: dict[str, str] = {
    "silk": "lustrous fluid drape",
    "satin": "glossy smooth sheen",
    "chiffon": "sheer floating layers",
    "organza": "crisp translucent volume",
    "tulle": "airy layered tulle volume",
    "lace": "intricate openwork detail",
    "velvet": "deep soft pile",
    "brocade": "raised woven motifs",
    "jacquard": "woven pattern texture",
    "linen": "natural slub texture",
    "cotton": "matte breathable weave",
    "denim": "visible twill weave",
    "chambray": "soft faded weave",
    "poplin": "crisp tight weave",
    "jersey": "soft stretch drape",
    "wool": "soft matte texture",
    "cashmere": "fine brushed knit",
    "tweed": "flecked woven texture",
    "mohair": "fuzzy halo knit",
    "leather": "supple leather grain",
    "suede": "velvety napped surface",
    "faux fur": "plush pile",
    "sequins": "light-catching sequin embroidery",
    "crepe": "fine pebbled texture",
    "taffeta": "crisp rustling sheen",
    "neoprene": "sculpted smooth bonding",
    "recycled polyester": "technical smooth finish",
    "hemp": "rustic natural weave",
}
FABRICS: tuple[str, ...] = tuple(FABRIC_TEXTURE)
SILHOUETTES: tuple[str, ...] = (
    "a-line", "ball gown", "mermaid", "sheath", "shift", "empire", "wrap", "slip", "bodycon",
    "fit and flare", "peplum", "trapeze", "column", "oversized", "boxy", "tailored", "fitted",
    "relaxed", "cropped", "wide-leg", "straight", "flared", "draped", "asymmetric",
)  # fmt: skip
STYLE_SUFFIX: tuple[str, ...] = (
    "fashion design",
    "studio lighting",
    "plain background",
    "highly detailed",
)
BASE_NEGATIVE: tuple[str, ...] = (
    "blurry",
    "low quality",
    "watermark",
    "text",
    "deformed",
    "cropped garment",
)


def _collapse(text: str) -> str:
    return " ".join(text.split())


def _contains_phrase(haystack: str, phrase: str) -> bool:
    """Whether ``phrase`` occurs in ``haystack`` as whole words (case-insensitive)."""
    words = haystack.casefold().replace(",", " ").split()
    target = phrase.casefold().split()
    if not target:
        return True
    return any(words[i : i + len(target)] == target for i in range(len(words) - len(target) + 1))


def vocabulary_terms(text: str, vocabulary: Iterable[str]) -> list[str]:
    """The terms of ``vocabulary`` that ``text`` mentions, in vocabulary order."""
    return [term for term in vocabulary if _contains_phrase(text, term)]


def _join_clauses(clauses: Iterable[str]) -> str:
    kept: list[str] = []
    for clause in clauses:
        clause = _collapse(clause).strip(" ,")
        if clause and not any(clause.casefold() == k.casefold() for k in kept):
            kept.append(clause)
    return ", ".join(kept)


def enhance_prompt(prompt: str, style: StyleOptions | None = None) -> str:
    """The prompt the generator is given (see the module docstring for the recipe)."""
    style = style or StyleOptions()
    base = _collapse(prompt).strip(" ,")
    clauses = [base]
    if style.garment and not _contains_phrase(base, style.garment):
        clauses.append(style.garment)
    if style.silhouette and not _contains_phrase(base, style.silhouette):
        clauses.append(f"{style.silhouette} silhouette")
    if style.fabric and not _contains_phrase(base, style.fabric):
        clauses.append(f"{style.fabric} fabric")
    missing_colours = [c for c in style.palette if not _contains_phrase(base, c)]
    if missing_colours:
        clauses.append(f"{' and '.join(missing_colours)} colour palette")
    named = " , ".join(clauses)
    fabrics = vocabulary_terms(named, FABRICS)
    if fabrics:
        clauses.append(FABRIC_TEXTURE[fabrics[0]])
    garments = vocabulary_terms(named, GARMENTS)
    if garments:
        clauses.append(GARMENT_FRAMING[garments[0]])
    clauses.extend(STYLE_SUFFIX)
    return _join_clauses(clauses)


def enhance_negative_prompt(negative_prompt: str) -> str:
    """The designer's negative prompt plus the usual artefact terms, without repeats."""
    base = _collapse(negative_prompt).strip(" ,")
    extra = [term for term in BASE_NEGATIVE if not _contains_phrase(base, term)]
    return _join_clauses([base, *extra])


def describe(prompt: str, style: StyleOptions | None = None) -> dict[str, list[str]]:
    """Which garments, fabrics and silhouettes the prompt and style options name."""
    style = style or StyleOptions()
    text = " , ".join([prompt, *style.terms()])
    return {
        "garments": vocabulary_terms(text, GARMENTS),
        "fabrics": vocabulary_terms(text, FABRICS),
        "silhouettes": vocabulary_terms(text, SILHOUETTES),
    }
