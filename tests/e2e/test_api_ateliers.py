"""Ateliers over HTTP as users drive them: a partner registers, a designer matches a design,
ateliers quote, the designer accepts; contact details only for the two parties."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import psycopg
import pytest

from tests.conftest import bearer

OPERATOR = bearer("operator", "op-1")
DESIGNER = bearer("designer", "des-1")
OTHER_DESIGNER = bearer("designer", "des-2")
LUNE = bearer("partner", "p-lune")
SOLEIL = bearer("partner", "p-soleil")
STRANGER = bearer("partner", "p-stranger")
CUSTOMER = bearer("customer", "alice")


def atelier_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": "Atelier Lune",
        "categories": ["Dresses", "coats"],
        "max_complexity": 4,
        "location": {"latitude": 48.8566, "longitude": 2.3522, "city": "Paris"},
        "price_band": {"min": 10_000, "max": 50_000, "currency": "EUR"},
        "capacity_per_month": 8,
        "contact": {"email": "hello@lune.example", "phone": "+33 1 23 45 67 89"},
    }
    body.update(overrides)
    return body


MATCH_BODY = {
    "category": "dresses",
    "complexity": 3,
    "budget": {"max": 30_000, "currency": "EUR"},
    "location": {"latitude": 45.764, "longitude": 4.8357},
    "limit": 2,
}


async def register(api: Any, headers: dict[str, str], **overrides: Any) -> dict[str, Any]:
    response = await api.post("/ateliers", headers=headers, json=atelier_body(**overrides))
    assert response.status_code == 201, response.text
    return dict(response.json())


async def wait_in_directory(api: Any, position: int) -> None:
    for _ in range(200):
        response = await api.get(f"/ateliers?min_position={position}", headers=DESIGNER)
        if response.status_code == 200:
            return
        await asyncio.sleep(0.1)
    raise AssertionError("the atelier directory did not catch up")


async def two_ateliers(api: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    lune = await register(api, LUNE)
    soleil = await register(
        api,
        OPERATOR,
        name="Atelier Soleil",
        partner_id="p-soleil",
        location={"latitude": 43.2965, "longitude": 5.3698, "city": "Marseille"},
        contact={"email": "bonjour@soleil.example", "phone": "+33 4 91 00 00 00"},
    )
    await wait_in_directory(api, soleil["position"])
    return lune, soleil


async def a_match(api: Any) -> dict[str, Any]:
    response = await api.post(
        f"/designs/{uuid.uuid4()}/atelier-matches", headers=DESIGNER, json=MATCH_BODY
    )
    assert response.status_code == 201, response.text
    return dict(response.json())


async def test_match_quote_accept_shows_contact_to_the_two_parties_only(
    api: Any, pipeline: Any
) -> None:
    lune, soleil = await two_ateliers(api)
    assert lune["contact"] == {"email": "hello@lune.example", "phone": "+33 1 23 45 67 89"}
    assert soleil["contact"] is None  # the operator registered it: it never sees contacts

    listed = await api.get("/ateliers?category=dresses", headers=CUSTOMER)
    assert {a["name"] for a in listed.json()["items"]} == {"Atelier Lune", "Atelier Soleil"}
    assert all("contact" not in a for a in listed.json()["items"])

    match = await a_match(api)
    assert match["status"] == "requested"
    ranked = match["candidates"]
    assert [c["rank"] for c in ranked] == [1, 2]
    assert ranked[0]["score"] >= ranked[1]["score"]
    # Lyon is nearer Marseille (~280 km) than Paris (~390 km).
    assert ranked[0]["atelier_id"] == soleil["id"]
    assert set(ranked[0]["components"]) == {
        "category",
        "complexity",
        "distance",
        "budget",
        "capacity",
    }
    assert match["contact"] is None

    quoted = await api.post(
        f"/atelier-matches/{match['id']}/quotes",
        headers=LUNE,
        json={"price": 26_000, "currency": "EUR", "lead_time_days": 21, "note": "silk ok"},
    )
    assert quoted.status_code == 201, quoted.text
    assert [c["atelier_id"] for c in quoted.json()["candidates"]] == [lune["id"]]
    lune_quote = quoted.json()["quotes"][0]["quote_id"]
    soleil_quoted = await api.post(
        f"/atelier-matches/{match['id']}/quotes",
        headers=SOLEIL,
        json={"price": 29_000, "currency": "EUR", "lead_time_days": 14},
    )
    assert soleil_quoted.status_code == 201

    # Each atelier sees its own share of the match, never the other's quote.
    seen_by_soleil = (await api.get(f"/atelier-matches/{match['id']}", headers=SOLEIL)).json()
    assert [q["atelier_id"] for q in seen_by_soleil["quotes"]] == [soleil["id"]]
    designer_view = (await api.get(f"/atelier-matches/{match['id']}", headers=DESIGNER)).json()
    assert len(designer_view["quotes"]) == 2

    accepted = await api.post(
        f"/atelier-matches/{match['id']}/accept", headers=DESIGNER, json={"quote_id": lune_quote}
    )
    assert accepted.status_code == 200, accepted.text
    contact = {
        "atelier_id": lune["id"],
        "name": "Atelier Lune",
        "email": "hello@lune.example",
        "phone": "+33 1 23 45 67 89",
    }
    assert accepted.json()["status"] == "accepted"
    assert accepted.json()["contact"] == contact

    for viewer, expected in (
        (DESIGNER, contact),
        (LUNE, contact),
        (SOLEIL, None),
        (OPERATOR, None),
    ):
        body = (await api.get(f"/atelier-matches/{match['id']}", headers=viewer)).json()
        assert body["contact"] == expected
    assert (await api.get(f"/atelier-matches/{match['id']}", headers=SOLEIL)).json()[
        "accepted_quote"
    ] is None

    late = await api.post(
        f"/atelier-matches/{match['id']}/quotes",
        headers=SOLEIL,
        json={"price": 20_000, "currency": "EUR", "lead_time_days": 7},
    )
    assert late.status_code == 409
    again = await api.post(
        f"/atelier-matches/{match['id']}/accept", headers=DESIGNER, json={"quote_id": lune_quote}
    )
    assert again.status_code == 200  # accepting the same quote twice is a no-op


async def test_contact_details_are_encrypted_at_rest(api: Any, database_url: str) -> None:
    await register(api, LUNE)
    with psycopg.connect(database_url) as conn:
        stored = conn.execute(
            "SELECT state FROM modiste_events WHERE topic LIKE '%AtelierRegistered'"
        ).fetchone()
    assert stored is not None
    raw = bytes(stored[0])
    assert b"Atelier Lune" in raw  # the rest of the event is readable ...
    assert b"hello@lune.example" not in raw and b"45 67 89" not in raw  # ... contacts are not
    assert b"aesgcm1:" in raw


async def test_the_owner_and_operators_update_capabilities_other_partners_cannot(
    api: Any,
) -> None:
    lune = await register(api, LUNE)
    caps = {
        k: v for k, v in atelier_body(capacity_per_month=20).items() if k not in ("name", "contact")
    }
    url = f"/ateliers/{lune['id']}/capabilities"
    assert (await api.post(url, headers=STRANGER, json=caps)).status_code == 403
    assert (await api.post(url, headers=DESIGNER, json=caps)).status_code == 403
    updated = await api.post(url, headers={**LUNE, "If-Match": '"1"'}, json=caps)
    assert updated.status_code == 200, updated.text
    assert updated.json()["capacity_per_month"] == 20
    stale = await api.post(url, headers={**OPERATOR, "If-Match": '"1"'}, json=caps)
    assert stale.status_code == 409
    read = await api.get(f"/ateliers/{lune['id']}", headers=OPERATOR)
    assert read.status_code == 200 and read.json()["contact"] is None
    own = await api.get(f"/ateliers/{lune['id']}", headers=LUNE)
    assert own.json()["contact"]["email"] == "hello@lune.example"


async def test_match_requests_are_idempotent_with_a_key(api: Any, pipeline: Any) -> None:
    await two_ateliers(api)
    design = uuid.uuid4()
    headers = {**DESIGNER, "Idempotency-Key": "m-1"}
    first = await api.post(f"/designs/{design}/atelier-matches", headers=headers, json=MATCH_BODY)
    again = await api.post(f"/designs/{design}/atelier-matches", headers=headers, json=MATCH_BODY)
    assert first.status_code == again.status_code == 201
    assert first.json()["id"] == again.json()["id"]


async def test_who_may_do_what(api: Any, pipeline: Any) -> None:
    await two_ateliers(api)
    match = await a_match(api)
    match_url = f"/atelier-matches/{match['id']}"
    quote = {"price": 26_000, "currency": "EUR", "lead_time_days": 21}
    checks = [
        ("post", "/ateliers", CUSTOMER, atelier_body(), 403),
        ("post", "/ateliers", DESIGNER, atelier_body(), 403),
        ("post", "/ateliers", STRANGER, atelier_body(partner_id="p-lune"), 403),
        ("post", f"/designs/{uuid.uuid4()}/atelier-matches", LUNE, MATCH_BODY, 403),
        ("post", f"/designs/{uuid.uuid4()}/atelier-matches", OPERATOR, MATCH_BODY, 403),
        ("post", f"{match_url}/quotes", DESIGNER, quote, 403),
        ("post", f"{match_url}/quotes", STRANGER, quote, 403),  # not asked
        ("post", f"{match_url}/accept", LUNE, {"quote_id": "x"}, 403),
        ("post", f"{match_url}/accept", OTHER_DESIGNER, {"quote_id": "x"}, 403),
        ("get", match_url, OTHER_DESIGNER, None, 403),
        ("get", match_url, CUSTOMER, None, 403),
        ("get", match_url, STRANGER, None, 403),
    ]
    for method, url, headers, body, status in checks:
        kwargs = {"json": body} if body is not None else {}
        response = await getattr(api, method)(url, headers=headers, **kwargs)
        assert response.status_code == status, (method, url, headers, response.text)
        assert response.headers["content-type"].startswith("application/problem+json")


@pytest.mark.parametrize(
    ("method", "url"),
    [
        ("post", "/ateliers"),
        ("get", "/ateliers"),
        ("get", f"/ateliers/{uuid.uuid4()}"),
        ("post", f"/ateliers/{uuid.uuid4()}/capabilities"),
        ("post", f"/designs/{uuid.uuid4()}/atelier-matches"),
        ("get", f"/atelier-matches/{uuid.uuid4()}"),
        ("post", f"/atelier-matches/{uuid.uuid4()}/quotes"),
        ("post", f"/atelier-matches/{uuid.uuid4()}/accept"),
    ],
)
async def test_every_atelier_route_needs_a_token(api: Any, method: str, url: str) -> None:
    kwargs = {"json": {}} if method == "post" else {}
    response = await getattr(api, method)(url, **kwargs)
    assert response.status_code == 401


@pytest.mark.parametrize(
    ("overrides", "status"),
    [
        ({"location": {"latitude": 200, "longitude": 2.35, "city": "Paris"}}, 400),
        ({"max_complexity": 9}, 400),
        ({"categories": []}, 400),
        ({"price_band": {"min": 50_000, "max": 10_000, "currency": "EUR"}}, 422),
        ({"price_band": {"min": 100, "max": 200, "currency": "XXX"}}, 422),
        ({"contact": {"email": "not-an-email", "phone": "+33 1 23 45 67 89"}}, 422),
        ({"contact": {"email": "a@b.example", "phone": "call me maybe"}}, 422),
        ({"unknown_field": 1}, 400),
    ],
)
async def test_bad_atelier_registrations_are_4xx_problems(
    api: Any, overrides: dict[str, Any], status: int
) -> None:
    response = await api.post("/ateliers", headers=LUNE, json=atelier_body(**overrides))
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")


async def test_registration_conflicts_and_missing_partner_are_refused(api: Any) -> None:
    await register(api, LUNE)
    twice = await api.post("/ateliers", headers=LUNE, json=atelier_body())
    assert twice.status_code == 409
    nameless = await api.post("/ateliers", headers=OPERATOR, json=atelier_body())
    assert nameless.status_code == 422
    assert nameless.json()["invalid_params"][0]["name"] == "partner_id"
    malformed = await api.post(
        "/ateliers", headers={**LUNE, "Content-Type": "application/json"}, content=b"{nope"
    )
    assert malformed.status_code == 400
    missing = await api.get(f"/ateliers/{uuid.uuid4()}", headers=LUNE)
    assert missing.status_code == 404


async def test_bad_match_quote_and_accept_requests_are_4xx(api: Any, pipeline: Any) -> None:
    await two_ateliers(api)
    design_url = f"/designs/{uuid.uuid4()}/atelier-matches"
    for body, status in (
        ({**MATCH_BODY, "complexity": 9}, 400),
        ({**MATCH_BODY, "budget": {"max": -1, "currency": "EUR"}}, 400),
        ({**MATCH_BODY, "limit": 50}, 400),
        ({**MATCH_BODY, "category": "spacesuits"}, 422),  # no atelier makes it
    ):
        response = await api.post(design_url, headers=DESIGNER, json=body)
        assert response.status_code == status, (body, response.text)
    bad_design = await api.post(
        "/designs/not-a-uuid/atelier-matches", headers=DESIGNER, json=MATCH_BODY
    )
    assert bad_design.status_code in (400, 404)

    match = await a_match(api)
    quotes_url = f"/atelier-matches/{match['id']}/quotes"
    assert (
        await api.post(
            quotes_url, headers=LUNE, json={"price": 26_000, "currency": "EUR", "lead_time_days": 0}
        )
    ).status_code == 400
    assert (
        await api.post(
            quotes_url, headers=LUNE, json={"price": 26_000, "currency": "USD", "lead_time_days": 3}
        )
    ).status_code == 422
    unknown = await api.post(
        f"/atelier-matches/{match['id']}/accept",
        headers=DESIGNER,
        json={"quote_id": "no-such-quote"},
    )
    assert unknown.status_code == 422
    nowhere = await api.post(
        f"/atelier-matches/{uuid.uuid4()}/quotes",
        headers=LUNE,
        json={"price": 26_000, "currency": "EUR", "lead_time_days": 3},
    )
    assert nowhere.status_code == 404


async def test_the_partner_event_schema_is_public(api: Any) -> None:
    response = await api.get("/api/v1/events/schema")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/schema+json")
    schema = response.json()
    assert schema["x-schema-version"] == 1
    assert "MatchRequested" in schema["$defs"]
