"""`modiste partners ...`: NATS credentials for partners, and the contract's JSON Schema."""

from __future__ import annotations

import asyncio
import json
import os
import uuid
from pathlib import Path
from typing import Annotated, NoReturn

import typer

from infrastructure.settings import Settings, get_settings

partners_app = typer.Typer(
    name="partners",
    help="Partner access to the public event contract (v1) over NATS.",
    no_args_is_help=True,
)

CREDENTIALS_DIR = "partners"
ENSURE_TIMEOUT_SECONDS = 5.0


def _fail(message: str, code: int = 2) -> NoReturn:
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
    raise typer.Exit(code)


def credentials_path(settings: Settings, name: str) -> Path:
    return settings.data_dir / CREDENTIALS_DIR / f"{name}.json"


def _server_url(settings: Settings) -> str | None:
    """Where partners connect: MODISTE_NATS_URL's host, else the local server's."""
    from infrastructure.local.nats_auth import local_server_url

    if settings.nats_url:
        from urllib.parse import urlparse, urlunparse

        parts = urlparse(settings.nats_url)
        return urlunparse(parts._replace(netloc=parts.netloc.rpartition("@")[2]))
    return local_server_url(settings.data_dir / "nats")


async def _ensure_consumer(url: str, name: str, allow: list[str], settings: Settings) -> None:
    import nats

    from infrastructure.messaging.partners import (
        PublicStreamSettings,
        ensure_partner_consumer,
        ensure_public_stream,
    )

    nc = await nats.connect(url, connect_timeout=2, allow_reconnect=False)
    try:
        js = nc.jetstream()
        await ensure_public_stream(
            js,
            PublicStreamSettings(
                replicas=settings.stream_replicas,
                storage=settings.stream_storage,
                max_age_days=settings.stream_max_age_days,
                duplicate_window_seconds=settings.stream_duplicate_window_seconds,
            ),
        )
        await ensure_partner_consumer(js, name, allow)
    finally:
        await nc.close()


def _write_credentials(path: Path, body: dict[str, object]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        json.dump(body, out, indent=2)
        out.write("\n")


@partners_app.command("add")
def add(
    name: Annotated[str, typer.Argument(help="Partner name: a-z, 0-9 and '-'")],
    allow: Annotated[
        list[str] | None,
        typer.Option(
            "--allow",
            help="A subject under modiste.public.v1. the partner may read (repeatable; "
            "wildcards * and > allowed)",
        ),
    ] = None,
    atelier: Annotated[
        list[str] | None,
        typer.Option(
            "--atelier",
            help="Shorthand: allow modiste.public.v1.ateliers.<ATELIER_ID>.> (repeatable)",
        ),
    ] = None,
    rotate: Annotated[
        bool, typer.Option("--rotate", help="Issue a new password (the old one stops working)")
    ] = False,
) -> None:
    """Create (or update) a partner's NATS credentials, confined to the allowed subjects.

    Writes <data_dir>/partners/NAME.json (0600) for the partner, updates the local
    nats-server's users (reloaded in place, no restart) and creates the partner's durable
    consumer partner-NAME on stream MODISTE_PUBLIC.
    """
    from infrastructure.local.nats_auth import NatsAccess, reload_local_nats
    from infrastructure.messaging.partners import (
        PUBLIC_STREAM,
        InvalidPartnerError,
        partner_durable,
        partner_inbox_prefix,
    )
    from infrastructure.messaging.subjects import PUBLIC_PREFIX

    subjects = list(allow or [])
    for atelier_id in atelier or []:
        try:
            subjects.append(f"{PUBLIC_PREFIX}.ateliers.{uuid.UUID(atelier_id)}.>")
        except ValueError:
            _fail(f"--atelier {atelier_id!r} is not an atelier id (a UUID)")
    if not subjects:
        _fail("give at least one --allow SUBJECT or --atelier ID")
    settings = get_settings()
    access = NatsAccess.load_or_create(settings.data_dir)
    try:
        partner = access.add_partner(name, subjects, rotate=rotate)
    except (InvalidPartnerError, ValueError) as exc:
        _fail(str(exc))
    access.save()
    server = _server_url(settings)
    path = credentials_path(settings, name)
    _write_credentials(
        path,
        {
            "name": name,
            "user": partner.user,
            "password": partner.password,
            "servers": [server] if server else [],
            "allow": partner.allow,
            "stream": PUBLIC_STREAM,
            "durable": partner_durable(name),
            "inbox_prefix": partner_inbox_prefix(name),
            "schema": "/api/v1/events/schema",
        },
    )
    typer.echo(f"partner {name}: credentials in {path}")
    for subject in partner.allow:
        typer.echo(f"  may read {subject}")

    if settings.nats_url is None:
        reloaded = reload_local_nats(access, settings.data_dir / "nats")
        typer.echo(
            "  local nats-server reloaded its users"
            if reloaded
            else "  local nats-server is not running: `modiste up` starts it with these users"
        )
        url = access.internal_url(server) if (server and reloaded) else None
    else:
        typer.echo(
            "  MODISTE_NATS_URL points at your own NATS: grant this user there, with the "
            "permissions in `modiste partners show " + name + "`"
        )
        url = settings.nats_url
    if url is None:
        typer.echo("  its durable consumer is created when the partners worker next runs")
        return
    try:
        asyncio.run(
            asyncio.wait_for(
                _ensure_consumer(url, name, partner.allow, settings), ENSURE_TIMEOUT_SECONDS
            )
        )
        typer.echo(f"  durable consumer {partner_durable(name)} on {PUBLIC_STREAM} is ready")
    except Exception as exc:  # NATS unreachable: the publisher creates it later
        typer.echo(
            f"  could not create its durable consumer now ({type(exc).__name__}); "
            "the partners worker creates it when it runs"
        )


@partners_app.command("list")
def list_partners() -> None:
    """Every partner and the subjects it may read."""
    from infrastructure.local.nats_auth import NatsAccess

    access = NatsAccess.load_or_create(get_settings().data_dir)
    if not access.partners:
        typer.echo("no partners yet: modiste partners add NAME --allow SUBJECT")
    for name, partner in sorted(access.partners.items()):
        typer.echo(f"{name}\t{partner.user}\t{', '.join(partner.allow)}")


@partners_app.command("show")
def show(name: Annotated[str, typer.Argument(help="Partner name")]) -> None:
    """The NATS permissions of one partner (to grant on a NATS you run yourself)."""
    from infrastructure.local.nats_auth import NatsAccess
    from infrastructure.messaging.partners import partner_permissions

    access = NatsAccess.load_or_create(get_settings().data_dir)
    partner = access.partners.get(name)
    if partner is None:
        _fail(f"no partner {name!r}")
    granted = partner_permissions(name, partner.allow)
    typer.echo(
        json.dumps(
            {
                "user": partner.user,
                "permissions": {
                    "publish": {"allow": granted.publish},
                    "subscribe": {"allow": granted.subscribe},
                },
            },
            indent=2,
        )
    )


@partners_app.command("remove")
def remove(name: Annotated[str, typer.Argument(help="Partner name")]) -> None:
    """Revoke a partner's credentials (the local server drops them at once)."""
    from infrastructure.local.nats_auth import NatsAccess, reload_local_nats

    settings = get_settings()
    access = NatsAccess.load_or_create(settings.data_dir)
    if not access.remove_partner(name):
        _fail(f"no partner {name!r}")
    access.save()
    credentials_path(settings, name).unlink(missing_ok=True)
    if settings.nats_url is None:
        reload_local_nats(access, settings.data_dir / "nats")
    typer.echo(f"partner {name} removed")


@partners_app.command("schema")
def schema(
    output: Annotated[Path, typer.Option(help="Where to write the JSON Schema")] = Path(
        "docs/partners/events-v1.schema.json"
    ),
) -> None:
    """Write the JSON Schema of the partner contract v1 (served at /api/v1/events/schema)."""
    from interfaces.partners.schema import write_schema

    typer.echo(f"wrote {write_schema(output)}")
