"""Studio endpoints as a client drives them, without running any model: auth, refusals of
bad input and bad uploads, blobs, and the parts of the design lifecycle that need no agent."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import bearer
from tests.e2e.studio_helpers import bomb_png, noise_png, solid_png

DESIGNER = bearer("designer", "d-1")
MERCHANT = bearer("merchant", "m-1")
CUSTOMER = bearer("customer", "c-1")
PARTNER = bearer("partner", "p-1")
OPERATOR = bearer("operator", "o-1")
UNKNOWN = "00000000-0000-4000-8000-000000000000"
NO_BLOB = "0" * 64


async def a_product(api: Any) -> str:
    created = await api.post(
        "/products",
        headers=MERCHANT,
        json={
            "title": "Linen blazer",
            "category": "jackets",
            "brand": "Maison",
            "price": 12000,
            "currency": "EUR",
        },
    )
    assert created.status_code == 201, created.text
    return str(created.json()["id"])


async def a_design(api: Any, **body: Any) -> dict[str, Any]:
    response = await api.post(
        "/designs", headers=DESIGNER, json={"prompt": "an oversized linen blazer", **body}
    )
    assert response.status_code == 202, response.text
    return dict(response.json())


def upload(data: bytes, name: str = "photo.png", media_type: str = "image/png") -> dict[str, Any]:
    return {"image": (name, data, media_type)}


# -- designs ---------------------------------------------------------------------------------


async def test_requesting_a_design_answers_202_with_id_position_and_seed(api: Any) -> None:
    response = await api.post(
        "/designs",
        headers=DESIGNER,
        json={
            "prompt": "an evening gown",
            "fabric": "Velvet",
            "palette": ["emerald"],
            "steps": 4,
            "width": 64,
            "height": 64,
        },
    )
    assert response.status_code == 202, response.text
    body = response.json()
    assert body["status"] == "requested" and body["position"] > 0
    assert isinstance(body["seed"], int)
    assert response.headers["location"] == f"/designs/{body['id']}"
    design = (await api.get(body["status_url"], headers=DESIGNER)).json()
    assert design["status"] == "requested"
    assert design["style"] == {
        "garment": None,
        "fabric": "velvet",
        "silhouette": None,
        "palette": ["emerald"],
    }
    assert design["provenance"]["seed"] == body["seed"]
    assert design["image_url"] is None and design["scores"]["novelty"] is None


async def test_an_idempotency_key_replays_the_first_request(api: Any) -> None:
    headers = {**DESIGNER, "Idempotency-Key": "design-1"}
    first = await api.post("/designs", headers=headers, json={"prompt": "a trench coat"})
    again = await api.post("/designs", headers=headers, json={"prompt": "a trench coat"})
    assert first.status_code == again.status_code == 202
    assert first.json()["id"] == again.json()["id"]
    assert again.headers["idempotent-replayed"] == "true"


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"prompt": ""},
        {"prompt": "x" * 1001},
        {"prompt": "a coat", "seed": -1},
        {"prompt": "a coat", "steps": 0},
        {"prompt": "a coat", "guidance": 99},
        {"prompt": "a coat", "width": 100},
        {"prompt": "a coat", "palette": ["a", "b", "c", "d", "e", "f", "g"]},
        {"prompt": "a coat", "colour": "red"},
    ],
)
async def test_bad_design_requests_are_400_problems(api: Any, body: dict[str, Any]) -> None:
    response = await api.post("/designs", headers=DESIGNER, json=body)
    assert response.status_code == 400, response.text
    assert response.headers["content-type"].startswith("application/problem+json")


async def test_design_routes_need_a_token_and_the_right_role(api: Any) -> None:
    design = await a_design(api)
    path = f"/designs/{design['id']}"
    assert (await api.post("/designs", json={"prompt": "a coat"})).status_code == 401
    assert (await api.get("/designs")).status_code == 401
    assert (await api.get(path)).status_code == 401
    assert (await api.post(f"{path}/publish")).status_code == 401
    assert (await api.post(f"{path}/archive", json={})).status_code == 401
    assert (await api.get(f"{path}/similar-products")).status_code == 401
    for role in (CUSTOMER, MERCHANT, PARTNER):
        assert (
            await api.post("/designs", headers=role, json={"prompt": "a coat"})
        ).status_code == 403
    assert (await api.post(f"{path}/publish", headers=CUSTOMER)).status_code == 403
    assert (await api.post(f"{path}/archive", headers=MERCHANT, json={})).status_code == 403
    assert (await api.get(f"{path}/similar-products", headers=PARTNER)).status_code == 403


async def test_unpublished_designs_are_invisible_to_customers(api: Any) -> None:
    design = await a_design(api)
    path = f"/designs/{design['id']}"
    assert (await api.get(path, headers=CUSTOMER)).status_code == 404
    assert (await api.get(path, headers=MERCHANT)).status_code == 200
    assert (await api.get(f"/designs/{UNKNOWN}", headers=DESIGNER)).status_code == 404
    assert (await api.get(f"{path}/similar-products", headers=CUSTOMER)).status_code == 404


async def test_publishing_before_evaluation_is_a_409_and_archiving_works_any_time(
    api: Any,
) -> None:
    design = await a_design(api)
    path = f"/designs/{design['id']}"
    early = await api.post(f"{path}/publish", headers=DESIGNER)
    assert early.status_code == 409
    assert early.json()["type"] == "/problems/state-conflict"
    similar = await api.get(f"{path}/similar-products", headers=DESIGNER)
    assert similar.status_code == 409
    bad = await api.get(f"{path}/similar-products", headers=DESIGNER, params={"limit": 0})
    assert bad.status_code == 400
    archived = await api.post(f"{path}/archive", headers=OPERATOR, json={"reason": "duplicate"})
    assert archived.status_code == 200 and archived.json()["status"] == "archived"
    assert (
        await api.post(f"{path}/archive", headers=DESIGNER, json={"oops": 1})
    ).status_code == 400


async def test_the_gallery_shows_customers_only_published_designs(api: Any, pipeline: Any) -> None:
    design = await a_design(api)
    studio = await api.get(
        "/designs", headers=DESIGNER, params={"min_position": design["position"]}
    )
    assert studio.status_code == 200, studio.text
    assert [d["id"] for d in studio.json()["items"]] == [design["id"]]
    assert studio.json()["items"][0]["status"] == "requested"
    public = await api.get(
        "/designs", headers=CUSTOMER, params={"min_position": design["position"]}
    )
    assert public.json()["items"] == []
    mine = await api.get(
        "/designs", headers=bearer("designer", "someone-else"), params={"mine": "true"}
    )
    assert mine.json()["items"] == []
    assert (
        await api.get("/designs", headers=DESIGNER, params={"status": "nope"})
    ).status_code == 400


# -- product images and blobs ---------------------------------------------------------------


async def test_a_product_photo_is_stored_attached_and_served_immutable(api: Any) -> None:
    product_id = await a_product(api)
    image = noise_png(1)
    response = await api.post(
        f"/products/{product_id}/image", headers=MERCHANT, files=upload(image)
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["image_url"].startswith("/blobs/") and body["position"] > 0
    assert (await api.get(f"/products/{product_id}", headers=CUSTOMER)).json()["image_url"] == body[
        "image_url"
    ]
    blob = await api.get(body["image_url"])  # public: no token needed
    assert blob.status_code == 200 and blob.content == image
    assert blob.headers["content-type"] == "image/png"
    assert "immutable" in blob.headers["cache-control"]
    etag = blob.headers["etag"]
    cached = await api.get(body["image_url"], headers={"If-None-Match": etag})
    assert cached.status_code == 304 and cached.content == b""
    probe = await api.head(body["image_url"])
    assert probe.status_code == 200 and probe.content == b""
    assert (probe.headers["content-length"], probe.headers["etag"]) == (str(len(image)), etag)
    assert (await api.head(f"/blobs/{NO_BLOB}")).status_code == 404
    same_again = await api.post(
        f"/products/{product_id}/image", headers=MERCHANT, files=upload(image)
    )
    assert same_again.json()["version"] == body["version"]  # the same image is a no-op


async def test_missing_and_malformed_blob_addresses(api: Any) -> None:
    missing = await api.get(f"/blobs/{NO_BLOB}")
    assert missing.status_code == 404
    assert missing.headers["content-type"].startswith("application/problem+json")
    assert (await api.get("/blobs/not-a-digest")).status_code == 400


@pytest.mark.parametrize(
    ("data", "status", "problem"),
    [
        (b"this is not an image", 422, "/problems/invalid-image"),
        (noise_png(2)[:300], 422, "/problems/invalid-image"),
        (bomb_png(), 413, "/problems/image-too-large"),
        (b"\x89PNG\r\n\x1a\n" + b"\0" * (9 * 1024 * 1024), 413, "/problems/image-too-large"),
    ],
    ids=["not-an-image", "truncated", "decompression-bomb", "over-the-byte-limit"],
)
async def test_bad_product_photos_are_refused_and_nothing_is_attached(
    api: Any, data: bytes, status: int, problem: str
) -> None:
    product_id = await a_product(api)
    response = await api.post(f"/products/{product_id}/image", headers=MERCHANT, files=upload(data))
    assert response.status_code == status, response.text
    assert response.json()["type"] == problem
    product = (await api.get(f"/products/{product_id}", headers=MERCHANT)).json()
    assert product["image_url"] is None and product["version"] == 1


async def test_a_body_over_the_request_limit_is_a_413(api: Any) -> None:
    product_id = await a_product(api)
    huge = b"\0" * (11 * 1024 * 1024)
    response = await api.post(f"/products/{product_id}/image", headers=MERCHANT, files=upload(huge))
    assert response.status_code == 413


async def test_product_photo_upload_needs_a_merchant_and_an_image_field(api: Any) -> None:
    product_id = await a_product(api)
    path = f"/products/{product_id}/image"
    assert (await api.post(path, files=upload(solid_png((1, 2, 3))))).status_code == 401
    assert (
        await api.post(path, headers=CUSTOMER, files=upload(solid_png((1, 2, 3))))
    ).status_code == 403
    assert (await api.post(path, headers=MERCHANT, data={"photo": "x"})).status_code == 400
    unknown = await api.post(
        f"/products/{UNKNOWN}/image", headers=MERCHANT, files=upload(solid_png((1, 2, 3)))
    )
    assert unknown.status_code == 404


# -- search refusals (before any model is needed) ----------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        {"query": ""},
        {"query": "gown", "limit": 0},
        {"query": "gown", "limit": 101},
        {"query": "gown", "budget": 10000},
        {"query": "gown", "budget": 0, "currency": "EUR"},
        {"query": "gown", "currency": "euro"},
        {"query": "gown", "sort": "price"},
    ],
)
async def test_bad_text_searches_are_400_problems(api: Any, body: dict[str, Any]) -> None:
    response = await api.post("/search/text", headers=CUSTOMER, json=body)
    assert response.status_code == 400, response.text
    assert response.headers["content-type"].startswith("application/problem+json")


async def test_search_needs_a_token_and_a_shopping_role(api: Any) -> None:
    assert (await api.post("/search/text", json={"query": "gown"})).status_code == 401
    assert (await api.post("/search/image", files=upload(noise_png(3)))).status_code == 401
    assert (
        await api.post("/search/text", headers=PARTNER, json={"query": "gown"})
    ).status_code == 403
    assert (
        await api.post("/search/image", headers=PARTNER, files=upload(noise_png(3)))
    ).status_code == 403


@pytest.mark.parametrize(
    ("data", "form", "status"),
    [
        (b"GIF89a not really", {}, 422),
        (noise_png(4)[:200], {}, 422),
        (bomb_png(), {}, 413),
        (noise_png(4), {"limit": "0"}, 400),
        (noise_png(4), {"budget": "100"}, 400),
    ],
    ids=["not-an-image", "truncated", "bomb", "bad-limit", "budget-without-currency"],
)
async def test_bad_image_searches_are_refused_before_any_model_runs(
    api: Any, data: bytes, form: dict[str, str], status: int
) -> None:
    response = await api.post("/search/image", headers=CUSTOMER, files=upload(data), data=form)
    assert response.status_code == status, response.text
