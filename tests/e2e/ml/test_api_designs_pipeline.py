"""A design requested through the API goes through JetStream and the designer agent, on the
tiny models, to "evaluated": every step an event, one correlation id, the image served."""

from __future__ import annotations

import hashlib
import io
import json
from typing import Any

import psycopg
import pytest
from PIL import Image

from infrastructure.ml.manifest import model_section
from infrastructure.settings import Settings
from tests.conftest import bearer
from tests.e2e.studio_helpers import eventually, noise_png, solid_png, stripes_png

pytestmark = pytest.mark.ml

DESIGNER = bearer("designer", "d-1")
MERCHANT = bearer("merchant", "m-1")
CUSTOMER = bearer("customer", "c-1")
FINAL = {"evaluated", "failed", "rejected"}
GOWN = {
    "prompt": "an evening gown for a winter gala",
    "fabric": "velvet",
    "silhouette": "mermaid",
    "palette": ["emerald", "gold"],
    "seed": 1234,
    "steps": 4,
    "width": 64,
    "height": 64,
}


async def request_design(api: Any, body: dict[str, Any], correlation_id: str | None = None) -> str:
    headers = dict(DESIGNER)
    if correlation_id:
        headers["X-Correlation-ID"] = correlation_id
    response = await api.post("/designs", headers=headers, json=body)
    assert response.status_code == 202, response.text
    return str(response.json()["id"])


async def settled(api: Any, design_id: str, statuses: set[str] = FINAL) -> dict[str, Any]:
    async def probe() -> dict[str, Any] | None:
        body: dict[str, Any] = (await api.get(f"/designs/{design_id}", headers=DESIGNER)).json()
        return body if body["status"] in statuses else None

    result: dict[str, Any] = await eventually(probe, timeout=90)
    return result


def stored_events(database_url: str, design_id: str) -> list[tuple[str, dict[str, Any]]]:
    with psycopg.connect(database_url) as conn:
        rows = conn.execute(
            "SELECT topic, state FROM modiste_events WHERE originator_id = %s "
            "ORDER BY originator_version",
            (design_id,),
        ).fetchall()
    return [(topic.rsplit(".", 1)[-1], json.loads(bytes(state))) for topic, state in rows]


async def test_a_requested_design_is_moderated_enhanced_generated_embedded_and_evaluated(
    api: Any, full_pipeline: Any, database_url: str, settings: Settings
) -> None:
    design_id = await request_design(api, GOWN, correlation_id="studio-e2e-gown")
    design = await settled(api, design_id)
    assert design["status"] == "evaluated", design

    events = stored_events(database_url, design_id)
    assert [name for name, _ in events] == [
        "DesignRequested",
        "DesignPromptEnhanced",
        "DesignGenerated",
        "DesignEmbedded",
        "DesignEvaluated",
    ]
    assert {state["correlation_id"] for _, state in events} == {"studio-e2e-gown"}
    assert {state["actor"] for _, state in events[1:]} == {"agent:agent-designer"}

    provenance = design["provenance"]
    diffusion = model_section(settings.models_dir, "diffusion")  # type: ignore[arg-type]
    assert provenance["model_hash"] == diffusion["model_hash"]
    assert (provenance["model_id"], provenance["seed"], provenance["steps"]) == (
        "tiny-diffusion",
        1234,
        4,
    )
    assert (provenance["width"], provenance["height"]) == (64, 64)
    assert provenance["enhanced_prompt"].startswith(GOWN["prompt"])
    assert "mermaid silhouette" in provenance["enhanced_prompt"]
    assert provenance["embedding_model_id"] == "tiny-clip"
    scores = design["scores"]
    assert scores["novelty"] == 1.0 and scores["compared_with"] == 0
    assert -1.0 <= scores["prompt_alignment"] <= 1.0
    assert "low_resolution" in scores["quality_flags"]

    image = await api.get(design["image_url"])
    assert image.status_code == 200 and image.headers["content-type"] == "image/png"
    assert "immutable" in image.headers["cache-control"]
    assert hashlib.sha256(image.content).hexdigest() == design["image_url"].rsplit("/", 1)[-1]
    assert Image.open(io.BytesIO(image.content)).size == (64, 64)


async def test_the_same_prompt_seed_and_model_draw_the_same_image(
    api: Any, full_pipeline: Any
) -> None:
    first = await settled(api, await request_design(api, GOWN))
    second = await settled(api, await request_design(api, GOWN))
    other_seed = await settled(api, await request_design(api, {**GOWN, "seed": 99}))
    assert first["status"] == second["status"] == other_seed["status"] == "evaluated"
    assert first["image_url"] == second["image_url"]
    one = (await api.get(first["image_url"])).content
    two = (await api.get(second["image_url"])).content
    assert one == two
    assert other_seed["image_url"] != first["image_url"]
    # The second drawing adds nothing new: its nearest design is the first, at cosine 1.
    assert second["scores"]["novelty"] == 0.0
    assert second["scores"]["nearest_design_id"] == first["id"]


async def test_a_refused_prompt_is_rejected_with_the_rule_and_never_drawn(
    api: Any, full_pipeline: Any, database_url: str
) -> None:
    design_id = await request_design(api, {"prompt": "a gown soaked in gore", "steps": 4})
    design = await settled(api, design_id)
    assert design["status"] == "rejected"
    assert design["failure"]["stage"] == "moderation"
    assert "gore" in design["failure"]["reason"]
    assert design["image_url"] is None
    assert [name for name, _ in stored_events(database_url, design_id)] == [
        "DesignRequested",
        "DesignModerationFailed",
    ]


async def test_a_size_the_model_cannot_draw_fails_the_design_with_the_reason(
    api: Any, full_pipeline: Any
) -> None:
    design = await settled(api, await request_design(api, {**GOWN, "width": 72}))
    assert design["status"] == "failed"
    assert design["failure"]["stage"] == "generation" and design["failure"]["attempts"] == 1
    assert "multiple of 16" in design["failure"]["reason"]


async def test_a_published_design_is_public_and_finds_similar_products(
    api: Any, full_pipeline: Any
) -> None:
    products = []
    for index, image in enumerate([noise_png(7), solid_png((200, 40, 40)), stripes_png(4)]):
        created = await api.post(
            "/products",
            headers=MERCHANT,
            json={
                "title": f"Piece {index}",
                "category": "dresses",
                "brand": "Maison",
                "price": 10000 + 5000 * index,
                "currency": "EUR",
            },
        )
        product_id = created.json()["id"]
        uploaded = await api.post(
            f"/products/{product_id}/image",
            headers=MERCHANT,
            files={"image": ("p.png", image, "image/png")},
        )
        assert uploaded.status_code == 200, uploaded.text
        products.append(product_id)

    design = await settled(api, await request_design(api, GOWN))
    published = await api.post(f"/designs/{design['id']}/publish", headers=DESIGNER)
    assert published.status_code == 200 and published.json()["status"] == "published"
    assert (await api.get(f"/designs/{design['id']}", headers=CUSTOMER)).status_code == 200
    gallery = await api.get(
        "/designs", headers=CUSTOMER, params={"min_position": published.json()["position"]}
    )
    assert [item["id"] for item in gallery.json()["items"]] == [design["id"]]

    async def similar() -> dict[str, Any] | None:
        response = await api.get(
            f"/designs/{design['id']}/similar-products",
            headers=CUSTOMER,
            params={"budget": 15000, "currency": "EUR"},
        )
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body if body["count"] == 3 else None

    body = await eventually(similar, timeout=60)
    assert {r["product_id"] for r in body["results"]} == set(products)
    scores = [r["score"] for r in body["results"]]
    assert scores == sorted(scores, reverse=True)
    for result in body["results"]:
        components = result["components"]
        weights = body["weights"]
        assert result["score"] == pytest.approx(
            weights["alpha"] * components["similarity"]
            + weights["beta"] * components["price_alignment"]
            + weights["gamma"] * components["brand_score"]
            + weights["delta"] * components["availability"],
            abs=1e-5,
        )
    over_budget = next(r for r in body["results"] if r["price"]["amount"] == 20000)
    assert over_budget["components"]["price_alignment"] < 1.0
