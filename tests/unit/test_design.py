"""The Design aggregate: given its history, when a command runs, then these events (or this
refusal)."""

from __future__ import annotations

import pytest

from domain.designs.aggregates import Design
from domain.designs.values import DesignStatus, StyleOptions
from domain.shared.errors import InvariantViolationError, ValidationError
from domain.shared.metadata import EventMetadata, bound_metadata
from domain.shared.vectors import to_f16_bytes

SHA = "ab" * 32


def a_design(**overrides: object) -> Design:
    arguments: dict[str, object] = {
        "prompt": "  an evening   gown ",
        "requested_by": "designer:d1",
        "seed": 42,
        "steps": 20,
        "guidance": 7.5,
        "style": StyleOptions.of(garment="Gown", fabric="silk", palette=["Emerald", "gold"]),
    }
    arguments.update(overrides)
    return Design.request(**arguments)  # type: ignore[arg-type]


def generated(design: Design) -> Design:
    design.enhance_prompt("an evening gown, silk fabric", "blurry")
    design.record_generation(
        image_sha256=SHA,
        media_type="image/png",
        width=64,
        height=64,
        seed=design.seed,
        steps=design.steps,
        guidance=design.guidance,
        model_id="tiny-diffusion",
        model_hash="f" * 64,
        duration_seconds=0.123456,
    )
    return design


def evaluated(design: Design) -> Design:
    generated(design)
    design.record_embedding("tiny-clip", to_f16_bytes([0.6, 0.8]))
    design.record_evaluation(
        novelty=0.25,
        prompt_alignment=0.1,
        quality_flags=["low_resolution", "low_resolution"],
        compared_with=3,
        nearest_design_id=None,
    )
    return design


def names(design: Design) -> list[str]:
    return [type(e).__name__ for e in design.collect_events()]


def test_a_request_records_the_normalised_prompt_style_and_seed() -> None:
    with bound_metadata(EventMetadata("corr-9", "http:1", "designer:d1")):
        design = a_design()
    [requested] = design.collect_events()
    assert type(requested).__name__ == "DesignRequested"
    assert requested.prompt == "an evening gown"
    assert (requested.garment, requested.fabric, requested.palette) == (
        "gown",
        "silk",
        ["emerald", "gold"],
    )
    assert (requested.seed, requested.steps, requested.guidance) == (42, 20, 7.5)
    assert requested.correlation_id == "corr-9"
    assert design.status is DesignStatus.REQUESTED


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"prompt": "   "}, "prompt"),
        ({"prompt": "x" * 1001}, "prompt"),
        ({"seed": -1}, "seed"),
        ({"seed": 2**63}, "seed"),
        ({"steps": 0}, "steps"),
        ({"guidance": float("nan")}, "guidance"),
        ({"width": 100}, "width"),
        ({"height": 8}, "height"),
        ({"requested_by": " "}, "requested_by"),
    ],
)
def test_a_request_outside_the_limits_is_refused(overrides: dict[str, object], field: str) -> None:
    with pytest.raises(ValidationError) as caught:
        a_design(**overrides)
    assert caught.value.field == field


def test_style_options_are_validated() -> None:
    with pytest.raises(ValidationError) as caught:
        StyleOptions.of(palette=[f"c{i}" for i in range(7)])
    assert caught.value.field == "palette"
    with pytest.raises(ValidationError):
        StyleOptions.of(fabric="x" * 41)
    assert StyleOptions.of(garment="  ", palette=["Red", "red "]) == StyleOptions(palette=("red",))


def test_the_pipeline_goes_requested_enhanced_generated_embedded_evaluated_published() -> None:
    design = evaluated(a_design())
    design.publish()
    assert names(design) == [
        "DesignRequested",
        "DesignPromptEnhanced",
        "DesignGenerated",
        "DesignEmbedded",
        "DesignEvaluated",
        "DesignPublished",
    ]
    assert design.status is DesignStatus.PUBLISHED and design.is_public
    assert design.quality_flags == ["low_resolution"]
    assert design.embedding() == ("tiny-clip", to_f16_bytes([0.6, 0.8]))


def test_a_moderation_failure_is_final() -> None:
    design = a_design()
    design.fail_moderation("denied_term", "mentions 'gore'")
    assert design.status is DesignStatus.REJECTED
    assert design.failure_reason == "mentions 'gore'"
    with pytest.raises(InvariantViolationError):
        design.enhance_prompt("x", "")
    with pytest.raises(InvariantViolationError):
        design.publish()


def test_steps_out_of_order_are_refused() -> None:
    design = a_design()
    with pytest.raises(InvariantViolationError, match="it is requested, not enhanced"):
        generated_without_enhancing(design)
    with pytest.raises(InvariantViolationError):
        design.record_embedding("m", to_f16_bytes([1.0]))
    with pytest.raises(InvariantViolationError, match="not evaluated"):
        design.publish()


def generated_without_enhancing(design: Design) -> None:
    design.record_generation(
        image_sha256=SHA,
        media_type="image/png",
        width=64,
        height=64,
        seed=1,
        steps=1,
        guidance=1.0,
        model_id="m",
        model_hash="h",
        duration_seconds=1.0,
    )


def test_generation_can_fail_after_enhancement_or_generation_but_not_after() -> None:
    design = a_design()
    design.enhance_prompt("p", "")
    design.fail_generation("generation", "RuntimeError: out of memory", 3)
    assert (design.status, design.attempts, design.failed_stage) == (
        DesignStatus.FAILED,
        3,
        "generation",
    )
    done = evaluated(a_design())
    with pytest.raises(InvariantViolationError):
        done.fail_generation("embedding", "late", 1)


def test_scores_are_range_checked() -> None:
    design = generated(a_design())
    design.record_embedding("m", to_f16_bytes([1.0, 0.0]))
    with pytest.raises(ValidationError):
        design.record_evaluation(
            novelty=1.5,
            prompt_alignment=0,
            quality_flags=[],
            compared_with=0,
            nearest_design_id=None,
        )
    with pytest.raises(ValidationError):
        generated(a_design()).record_embedding("m", b"odd")


def test_publishing_and_archiving_twice_are_no_ops() -> None:
    design = evaluated(a_design())
    design.publish()
    design.publish()
    design.archive("retired")
    design.archive("again")
    assert names(design)[-2:] == ["DesignPublished", "DesignArchived"]
    assert design.status is DesignStatus.ARCHIVED and not design.is_public


def test_any_design_can_be_archived_even_mid_pipeline() -> None:
    design = a_design()
    design.archive()
    assert design.status is DesignStatus.ARCHIVED
    with pytest.raises(InvariantViolationError):
        design.enhance_prompt("p", "")


def test_a_design_replays_from_its_events() -> None:
    design = evaluated(a_design())
    events = design.collect_events()
    copy = None
    for event in events:
        copy = event.mutate(copy)
    assert copy is not None
    assert (copy.status, copy.novelty, copy.image_sha256, copy.model_hash) == (
        DesignStatus.EVALUATED,
        0.25,
        SHA,
        "f" * 64,
    )
