"""Pure design services: moderation, prompt enhancement, image quality, novelty, alignment,
and float16 vectors."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from domain.designs.moderation import (
    DENY_LIST,
    MAX_MODERATED_CHARS,
    find_denied_term,
    moderate_prompt,
)
from domain.designs.prompts import (
    BASE_NEGATIVE,
    STYLE_SUFFIX,
    enhance_negative_prompt,
    enhance_prompt,
)
from domain.designs.services import (
    BLANK_STD_THRESHOLD,
    assess_image,
    max_similarity,
    novelty,
    prompt_alignment,
)
from domain.designs.values import StyleOptions
from domain.shared.vectors import cosine, from_f16_bytes, to_f16_bytes

# -- moderation -------------------------------------------------------------------------------


def test_an_ordinary_fashion_prompt_is_allowed() -> None:
    verdict = moderate_prompt("an oversized linen blazer with brass buttons", ["linen"])
    assert verdict.allowed and verdict.rule is None


@pytest.mark.parametrize(
    ("prompt", "rule"),
    [
        ("", "too_short"),
        ("a!", "too_short"),
        ("x" * (MAX_MODERATED_CHARS + 1), "too_long"),
        ("a gown covered in gore", "denied_term"),
        ("NUDE runway look", "denied_term"),
        ("n4k3d model in a coat", "denied_term"),
        ("a Nazï armband", "denied_term"),
        ("a Louis  Vuitton style bag", "denied_term"),
        ("counterfeit-looking sneakers", "denied_term"),
    ],
)
def test_prompts_breaking_a_rule_are_refused_with_the_rule(prompt: str, rule: str) -> None:
    verdict = moderate_prompt(prompt)
    assert not verdict.allowed
    assert verdict.rule == rule
    assert verdict.reason


def test_deny_list_matching_is_on_whole_words() -> None:
    assert find_denied_term(["classic glasses and a gored skirt"]) is None  # not 'gore'
    assert find_denied_term(["a nike-inspired runner"]) == ("nike", "protected brand")


def test_style_options_are_moderated_too() -> None:
    verdict = moderate_prompt("a tailored jacket", ["replica"])
    assert verdict.rule == "denied_term" and "counterfeit" in (verdict.reason or "")


def test_every_deny_list_term_is_caught_on_its_own() -> None:
    for term in DENY_LIST:
        assert not moderate_prompt(f"a dress, {term.upper()}, studio").allowed, term


# -- prompt enhancement ------------------------------------------------------------------------

style_terms = st.sampled_from(["silk", "denim", "gown", "jacket", "a-line", "oversized", "teal"])
styles = st.builds(
    StyleOptions.of,
    garment=st.none() | st.sampled_from(["gown", "jacket", "handbag", "kaftan"]),
    fabric=st.none() | st.sampled_from(["silk", "denim", "wool", "organza"]),
    silhouette=st.none() | st.sampled_from(["a-line", "oversized", "mermaid"]),
    palette=st.lists(st.sampled_from(["teal", "ivory", "black", "rust"]), max_size=3),
)
prompts = st.text(
    alphabet=st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), max_size=200
).filter(lambda s: any(c.isalnum() for c in s))


def test_enhancement_adds_the_style_the_prompt_does_not_say() -> None:
    enhanced = enhance_prompt(
        "evening gown for a winter gala",
        StyleOptions.of(garment="gown", fabric="velvet", silhouette="mermaid", palette=["emerald"]),
    )
    assert enhanced.startswith("evening gown for a winter gala, mermaid silhouette, ")
    assert "velvet fabric" in enhanced and "emerald colour palette" in enhanced
    assert "deep soft pile" in enhanced  # the fabric's texture from the vocabulary
    assert "full-length view on a model" in enhanced  # the gown's framing
    assert enhanced.count("gown") == 1


def test_enhancement_invents_no_garment_or_fabric() -> None:
    assert enhance_prompt("something bold") == ", ".join(["something bold", *STYLE_SUFFIX])


@given(prompts, styles)
def test_enhancement_is_deterministic_and_keeps_the_designers_words_first(
    prompt: str, style: StyleOptions
) -> None:
    enhanced = enhance_prompt(prompt, style)
    assert enhanced == enhance_prompt(prompt, style)
    assert enhanced.startswith(" ".join(prompt.split()).strip(" ,"))
    for term in style.terms():
        assert term in enhanced.casefold()
    for clause in STYLE_SUFFIX:
        assert clause in enhanced
    clauses = [c.casefold() for c in enhanced.split(", ")]
    assert len(clauses) == len(set(clauses)) or "," in prompt


@given(st.text(max_size=100))
def test_negative_prompt_gets_each_artefact_term_once(negative: str) -> None:
    enhanced = enhance_negative_prompt(negative)
    for term in BASE_NEGATIVE:
        assert term in enhanced
    assert enhance_negative_prompt("blurry, text") == ", ".join(
        ["blurry, text", *[t for t in BASE_NEGATIVE if t not in ("blurry", "text")]]
    )


# -- quality --------------------------------------------------------------------------------


def test_a_flat_image_is_blank_and_a_wrong_size_is_reported() -> None:
    flat = np.full((64, 32, 3), 128, dtype=np.uint8)
    report = assess_image(flat, 64, 64)
    assert set(report.failures) == {"blank", "wrong_size"}
    assert not report.passed
    assert "blank" in report.describe_failures() and "32x64" in report.describe_failures()


def test_a_varied_image_passes_with_soft_flags() -> None:
    rng = np.random.default_rng(0)
    noisy = rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)
    report = assess_image(noisy, 64, 64)
    assert report.passed and report.flags == ("low_resolution",)
    dark = np.clip(rng.normal(8, 4, (512, 512)), 0, 255).astype(np.uint8)
    assert set(assess_image(dark, 512, 512).flags) == {"too_dark", "low_contrast"}


@given(arrays(np.uint8, st.tuples(st.integers(1, 16), st.integers(1, 16), st.just(3))))
def test_blankness_is_the_pixel_standard_deviation(pixels: np.ndarray) -> None:
    report = assess_image(pixels, pixels.shape[1], pixels.shape[0])
    assert ("blank" in report.failures) == (float(pixels.astype(float).std()) < BLANK_STD_THRESHOLD)
    assert "wrong_size" not in report.failures


# -- novelty, alignment, vectors ---------------------------------------------------------------

unit_floats = st.floats(-1.0, 1.0, allow_nan=False)
vectors = arrays(np.float32, st.just(8), elements=st.floats(-10, 10, width=32)).filter(
    lambda v: float(np.linalg.norm(v)) > 1e-3
)


@given(st.none() | unit_floats)
def test_novelty_lies_in_unit_interval_and_is_one_with_nothing_to_compare(
    similarity: float | None,
) -> None:
    value = novelty(similarity)
    assert 0.0 <= value <= 1.0
    if similarity is None or similarity <= 0:
        assert value == 1.0
    else:
        assert math.isclose(value, 1.0 - similarity)


@given(vectors, vectors)
def test_alignment_is_a_symmetric_cosine(a: np.ndarray, b: np.ndarray) -> None:
    value = prompt_alignment(a, b)
    assert -1.0 <= value <= 1.0
    assert math.isclose(value, prompt_alignment(b, a), abs_tol=1e-9)
    assert math.isclose(prompt_alignment(a, a), 1.0, abs_tol=1e-6)
    assert math.isclose(prompt_alignment(a, -a), -1.0, abs_tol=1e-6)


def test_max_similarity_finds_the_nearest_row() -> None:
    others = np.array([[1.0, 0.0], [0.6, 0.8], [0.0, -1.0]])
    assert max_similarity([0.0, 1.0], others) == (1, pytest.approx(0.8))
    assert max_similarity([0.0, 1.0], np.zeros((0, 2))) is None


@given(vectors)
def test_float16_bytes_round_trip_within_half_precision(vector: np.ndarray) -> None:
    unit = vector / np.linalg.norm(vector)
    data = to_f16_bytes(unit)
    assert len(data) == 2 * unit.size
    back = from_f16_bytes(data)
    assert back.dtype == np.float32
    assert np.allclose(back, unit, atol=1e-3)
    assert cosine(back, unit) > 0.999


def test_bad_vectors_are_refused() -> None:
    with pytest.raises(ValueError):
        to_f16_bytes([np.nan, 1.0])
    with pytest.raises(ValueError):
        to_f16_bytes([1e6])
    with pytest.raises(ValueError):
        from_f16_bytes(b"abc")
    with pytest.raises(ValueError):
        cosine([0, 0], [1, 0])
