"""Partner credentials: what a partner is granted, and the nats.conf that grants it."""

from __future__ import annotations

from pathlib import Path

import pytest

from infrastructure.local.nats_auth import INTERNAL_USER, NatsAccess, with_credentials
from infrastructure.messaging.partners import (
    InvalidPartnerError,
    partner_permissions,
    require_partner_name,
    require_public_subject,
)

ATELIER = "modiste.public.v1.ateliers.3f1c2d9e-0000-4000-8000-000000000001.>"


def test_a_partner_reads_its_subjects_and_drives_only_its_own_consumer() -> None:
    granted = partner_permissions("lune", [ATELIER])
    assert granted.subscribe == [ATELIER, "_INBOX.partner-lune.>"]
    assert granted.publish == [
        "$JS.API.CONSUMER.MSG.NEXT.MODISTE_PUBLIC.partner-lune",
        "$JS.API.CONSUMER.INFO.MODISTE_PUBLIC.partner-lune",
        "$JS.ACK.MODISTE_PUBLIC.partner-lune.>",
    ]
    assert not any("CREATE" in s or s.startswith("modiste.") for s in granted.publish)


@pytest.mark.parametrize(
    "subject",
    [
        "modiste.events.>",
        "modiste.public.v1",
        "modiste.public.v2.catalog.>",
        ">",
        "modiste.public.v1.cat alog",
        "modiste.public.v1.>.x",
        "modiste.public.v1.a*",
    ],
)
def test_only_subjects_inside_the_public_v1_tree_are_granted(subject: str) -> None:
    with pytest.raises(InvalidPartnerError):
        require_public_subject(subject)


@pytest.mark.parametrize("subject", [ATELIER, "modiste.public.v1.>", "modiste.public.v1.catalog.*"])
def test_public_subjects_with_whole_token_wildcards_are_granted(subject: str) -> None:
    assert require_public_subject(subject) == subject


@pytest.mark.parametrize("name", ["", "Lune", "a.b", "a b", "-x", "x" * 41])
def test_partner_names_are_subject_safe(name: str) -> None:
    with pytest.raises(InvalidPartnerError):
        require_partner_name(name)


def test_access_file_is_private_and_keeps_passwords_unless_rotated(tmp_path: Path) -> None:
    access = NatsAccess.load_or_create(tmp_path)
    assert (tmp_path / "nats-auth.json").stat().st_mode & 0o777 == 0o600
    first = access.add_partner("lune", [ATELIER]).password
    access.save()
    again = NatsAccess.load_or_create(tmp_path)
    assert again.internal_password == access.internal_password
    assert again.add_partner("lune", ["modiste.public.v1.catalog.>"]).password == first
    assert again.add_partner("lune", [ATELIER], rotate=True).password != first


def test_the_config_has_an_unrestricted_internal_user_and_confined_partners(
    tmp_path: Path,
) -> None:
    access = NatsAccess.load_or_create(tmp_path)
    access.add_partner("lune", [ATELIER])
    text = access.config_text()
    assert f'"user": "{INTERNAL_USER}"' in text and "authorization" in text
    internal_line = next(line for line in text.splitlines() if f'"{INTERNAL_USER}"' in line)
    assert "permissions" not in internal_line
    assert '"$JS.API.CONSUMER.MSG.NEXT.MODISTE_PUBLIC.partner-lune"' in text
    assert 'server_name: "modiste-local"' in text


def test_the_internal_url_carries_the_credentials() -> None:
    assert with_credentials("nats://127.0.0.1:4222", "u", "p") == "nats://u:p@127.0.0.1:4222"
    assert with_credentials("nats://x:y@h:1", "u", "p") == "nats://u:p@h:1"
