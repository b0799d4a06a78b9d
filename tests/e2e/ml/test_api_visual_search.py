"""Visual search end to end: upload product photos, let the image agent embed them, find them
by image and by text, ranked with score components, every search logged."""

from __future__ import annotations

from typing import Any

import asyncpg
import pytest

from tests.conftest import bearer
from tests.e2e.studio_helpers import eventually, noise_png, solid_png, stripes_png

pytestmark = pytest.mark.ml

MERCHANT = bearer("merchant", "m-1")
CUSTOMER = bearer("customer", "c-1")


async def listed_with_photo(api: Any, title: str, photo: bytes, category: str = "dresses") -> str:
    created = await api.post(
        "/products",
        headers=MERCHANT,
        json={
            "title": title,
            "category": category,
            "brand": "Maison",
            "price": 9900,
            "currency": "EUR",
        },
    )
    assert created.status_code == 201, created.text
    product_id = str(created.json()["id"])
    uploaded = await api.post(
        f"/products/{product_id}/image",
        headers=MERCHANT,
        files={"image": (f"{title}.png", photo, "image/png")},
    )
    assert uploaded.status_code == 200, uploaded.text
    return product_id


async def image_search(api: Any, photo: bytes, **form: str) -> dict[str, Any]:
    response = await api.post(
        "/search/image",
        headers=CUSTOMER,
        files={"image": ("query.png", photo, "image/png")},
        data=form,
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def test_an_uploaded_product_photo_finds_itself_first(
    api: Any, full_pipeline: Any, database_url: str
) -> None:
    photos = {
        "noise": noise_png(11),
        "red": solid_png((210, 30, 30)),
        "stripes": stripes_png(3),
        "blue": solid_png((20, 40, 200)),
    }
    ids = {name: await listed_with_photo(api, name, photo) for name, photo in photos.items()}

    async def all_indexed() -> dict[str, Any] | None:
        body = await image_search(api, photos["noise"])
        return body if body["count"] == len(photos) else None

    body = await eventually(all_indexed, timeout=60)
    assert body["query_type"] == "image" and body["model_id"] == "tiny-clip"
    for name, photo in photos.items():
        found = await image_search(api, photo)
        first = found["results"][0]
        assert first["product_id"] == ids[name], (name, found["results"])
        assert first["rank"] == 1 and first["components"]["similarity"] > 0.999
        assert first["image_url"].startswith("/blobs/")
        assert set(first["components"]) == {
            "similarity",
            "price_alignment",
            "brand_score",
            "availability",
        }

    text = await api.post("/search/text", headers=CUSTOMER, json={"query": "a red silk dress"})
    assert text.status_code == 200, text.text
    assert text.json()["count"] == len(photos)
    assert text.json()["weights"] == {"alpha": 0.7, "beta": 0.15, "gamma": 0.1, "delta": 0.05}

    # Filters: nothing is in stock yet, and no product is in the "hats" category.
    assert (await image_search(api, photos["red"], in_stock_only="true"))["count"] == 0
    assert (await image_search(api, photos["red"], category="hats"))["count"] == 0
    await api.post(
        f"/products/{ids['blue']}/stock-adjustments", headers=MERCHANT, json={"delta": 2}
    )

    async def in_stock() -> dict[str, Any] | None:
        found = await image_search(api, photos["red"], in_stock_only="true")
        return found if found["count"] == 1 else None

    found = await eventually(in_stock, timeout=30)
    assert found["results"][0]["product_id"] == ids["blue"]
    assert found["results"][0]["components"]["availability"] == 1.0

    # A delisted product leaves the index.
    assert (await api.delete(f"/products/{ids['stripes']}", headers=MERCHANT)).status_code == 200

    async def delisted() -> bool:
        found = await image_search(api, photos["stripes"])
        return ids["stripes"] not in {r["product_id"] for r in found["results"]}

    await eventually(delisted, timeout=30)

    conn = await asyncpg.connect(database_url)
    try:
        rows = await conn.fetch(
            "SELECT query_type, query_text, result_count, latency_ms, actor "
            "FROM read.search_log ORDER BY id"
        )
    finally:
        await conn.close()
    assert {row["query_type"] for row in rows} == {"image", "text"}
    assert all(row["actor"] == "customer:c-1" and row["latency_ms"] > 0 for row in rows)
    assert ("text", "a red silk dress", len(photos)) in {
        (row["query_type"], row["query_text"], row["result_count"]) for row in rows
    }


async def test_the_products_catalog_shows_the_photo_and_its_embedding(
    api: Any, full_pipeline: Any
) -> None:
    product_id = await listed_with_photo(api, "solo", noise_png(5))

    async def embedded() -> dict[str, Any] | None:
        page = (await api.get("/products", headers=CUSTOMER)).json()
        [item] = [i for i in page["items"] if i["id"] == product_id] or [None]
        return item if item and item["image_url"] else None

    item = await eventually(embedded, timeout=30)
    assert item["image_url"].startswith("/blobs/")
