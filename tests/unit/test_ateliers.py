"""Atelier and AtelierMatch aggregates, given-when-then; contact sealing."""

from __future__ import annotations

import base64
import os
import uuid

import pytest

from domain.ateliers.aggregates import Atelier, AtelierMatch, MatchStatus, atelier_id_for
from domain.ateliers.matching import AtelierProfile, DesignRequirements, rank_ateliers
from domain.ateliers.values import Capabilities, ContactDetails, GeoPoint, Location, PriceBand
from domain.shared.errors import InvariantViolationError, ValidationError
from domain.shared.money import Money
from infrastructure.crypto import AesSealer, UnsealError, load_or_create_cipher_key


def capabilities(**overrides: object) -> Capabilities:
    values: dict[str, object] = {
        "categories": ["Dresses", "coats", "dresses"],
        "max_complexity": 4,
        "location": Location(GeoPoint(48.85, 2.35), "Paris"),
        "price_band": PriceBand(10_000, 50_000, "EUR"),
        "capacity_per_month": 10,
    }
    values.update(overrides)
    return Capabilities.of(**values)  # type: ignore[arg-type]


def an_atelier(partner: str = "p-lune") -> Atelier:
    return Atelier.register(
        name="Atelier Lune",
        partner_id=partner,
        capabilities=capabilities(),
        email_sealed="aesgcm1:x",
        phone_sealed="aesgcm1:y",
    )


def a_match(*partners: str) -> AtelierMatch:
    design = DesignRequirements("dresses", 3, Money(30_000, "EUR"), GeoPoint(45.76, 4.83))
    profiles = [AtelierProfile(str(atelier_id_for(p)), capabilities()) for p in partners]
    return AtelierMatch.request(
        design_id=str(uuid.uuid4()),
        requested_by="designer-1",
        design=design,
        ranked=rank_ateliers(design, profiles, 3),
    )


def quote(match: AtelierMatch, partner: str, price: int = 25_000, quote_id: str = "") -> str:
    quote_id = quote_id or uuid.uuid4().hex
    match.submit_quote(
        quote_id=quote_id,
        atelier_id=str(atelier_id_for(partner)),
        price=Money(price, "EUR"),
        lead_time_days=21,
    )
    return quote_id


def test_registration_normalises_categories_and_derives_the_id_from_the_partner() -> None:
    atelier = an_atelier("p-1")
    assert atelier.id == atelier_id_for("p-1")
    assert atelier.capabilities.categories == ("coats", "dresses")
    [event] = atelier.collect_events()
    assert type(event).__name__ == "AtelierRegistered"


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"categories": []}, "categories"),
        ({"max_complexity": 6}, "max_complexity"),
        ({"capacity_per_month": 0}, "capacity_per_month"),
    ],
)
def test_capabilities_out_of_range_are_refused(overrides: dict[str, object], field: str) -> None:
    with pytest.raises(ValidationError) as caught:
        capabilities(**overrides)
    assert caught.value.field == field


def test_a_price_band_upside_down_or_a_point_off_the_globe_is_refused() -> None:
    with pytest.raises(ValidationError):
        PriceBand(50_000, 10_000, "EUR")
    with pytest.raises(ValidationError):
        GeoPoint(91, 0)


def test_contact_details_are_checked() -> None:
    ContactDetails("hello@lune.example", "+33 1 23 45 67 89")
    with pytest.raises(ValidationError):
        ContactDetails("not-an-email", "+33 1 23 45 67 89")
    with pytest.raises(ValidationError):
        ContactDetails("hello@lune.example", "call me")


def test_updating_capabilities_records_an_event_only_when_they_change() -> None:
    atelier = an_atelier()
    atelier.collect_events()
    atelier.update_capabilities(capabilities())
    assert atelier.collect_events() == []
    atelier.update_capabilities(capabilities(capacity_per_month=20))
    [event] = atelier.collect_events()
    assert type(event).__name__ == "CapabilitiesUpdated"
    assert atelier.capabilities.capacity_per_month == 20


def test_a_match_needs_at_least_one_eligible_atelier() -> None:
    with pytest.raises(ValidationError):
        a_match()


def test_a_match_records_ranked_candidates_with_their_score_components() -> None:
    match = a_match("p-a", "p-b")
    [event] = match.collect_events()
    candidates = event.candidates  # type: ignore[attr-defined]
    assert [c["rank"] for c in candidates] == [1, 2]
    assert set(candidates[0]["components"]) == {
        "category",
        "complexity",
        "distance",
        "budget",
        "capacity",
    }


def test_only_asked_ateliers_quote_in_the_requests_currency() -> None:
    match = a_match("p-a")
    with pytest.raises(InvariantViolationError):
        quote(match, "p-stranger")
    with pytest.raises(ValidationError):
        match.submit_quote(
            quote_id="q",
            atelier_id=str(atelier_id_for("p-a")),
            price=Money(100, "USD"),
            lead_time_days=3,
        )


def test_a_newer_quote_replaces_the_older_one_which_cannot_be_accepted() -> None:
    match = a_match("p-a", "p-b")
    first = quote(match, "p-a", 30_000)
    second = quote(match, "p-a", 28_000)
    assert [q.quote_id for q in match.current] == [second]
    with pytest.raises(InvariantViolationError):
        match.accept(first)
    match.accept(second)
    assert match.status is MatchStatus.ACCEPTED


def test_acceptance_is_final_and_repeating_it_is_a_no_op() -> None:
    match = a_match("p-a", "p-b")
    qa, qb = quote(match, "p-a"), quote(match, "p-b")
    match.accept(qa)
    match.collect_events()
    match.accept(qa)
    assert match.collect_events() == []
    with pytest.raises(InvariantViolationError):
        match.accept(qb)
    with pytest.raises(InvariantViolationError):
        quote(match, "p-b")


def test_resubmitting_the_same_quote_id_is_idempotent() -> None:
    match = a_match("p-a")
    quote(match, "p-a", quote_id="q-1")
    assert (
        match.submit_quote(
            quote_id="q-1",
            atelier_id=str(atelier_id_for("p-a")),
            price=Money(1, "EUR"),
            lead_time_days=1,
        )
        is False
    )


# -- sealing ---------------------------------------------------------------------------------


def test_sealed_contact_round_trips_and_hides_the_plaintext() -> None:
    sealer = AesSealer(base64.b64encode(os.urandom(32)).decode())
    sealed = sealer.seal("hello@lune.example")
    assert "hello" not in sealed and sealed.startswith("aesgcm1:")
    assert sealer.seal("hello@lune.example") != sealed  # a fresh nonce each time
    assert sealer.unseal(sealed) == "hello@lune.example"


def test_another_key_or_a_damaged_value_cannot_unseal() -> None:
    sealer = AesSealer(base64.b64encode(os.urandom(32)).decode())
    other = AesSealer(base64.b64encode(os.urandom(32)).decode())
    sealed = sealer.seal("+33 1 23 45 67 89")
    with pytest.raises(UnsealError):
        other.unseal(sealed)
    with pytest.raises(UnsealError):
        sealer.unseal(sealed[:-4] + "AAAA")
    with pytest.raises(ValueError):
        AesSealer("not base64!")


def test_the_local_key_is_created_once_and_private(tmp_path: object) -> None:
    from pathlib import Path

    path = Path(str(tmp_path)) / "cipher-key"
    key = load_or_create_cipher_key(path)
    assert load_or_create_cipher_key(path) == key
    assert path.stat().st_mode & 0o777 == 0o600
    AesSealer(key)
