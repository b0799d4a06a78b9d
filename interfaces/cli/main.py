"""The `modiste` command line: `token`, `api` and `up` (local mode).

`up` runs every process of the system as children of one supervisor; the list of them is
:data:`LOCAL_PROCESSES`, to which the fan-out adds `relay` and the `worker` groups.
Heavy imports (uvicorn, the Litestar app, the local servers) happen inside the commands,
so `modiste token` stays quick.
"""

from __future__ import annotations

import contextlib
import json
import math
import signal
import socket
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import replace
from types import FrameType
from typing import Annotated, NoReturn, Protocol

import typer

from infrastructure.logging import configure_logging
from infrastructure.settings import Settings, get_settings
from interfaces.cli import operations
from interfaces.cli.models import models_app
from interfaces.cli.partners import partners_app
from interfaces.cli.search import search_app
from interfaces.cli.supervisor import ChildFailedError, ProcessSpec, Supervisor
from interfaces.http.auth import ROLES, issue_token, load_or_create_secret

JWT_SECRET_FILE = "jwt-secret"  # noqa: S105 - a file name, not a secret
"""Local mode's signing secret lives in ``<data_dir>/jwt-secret`` (0600)."""
HEALTH_PATH = "/api/system/health"
API_READY_TIMEOUT_SECONDS = 60.0


def module_command(*args: str) -> list[str]:
    """argv running ``modiste ARGS...`` with this interpreter (no PATH lookup needed)."""
    return [sys.executable, "-m", "interfaces.cli.main", *args]


LOCAL_PROCESSES: list[ProcessSpec] = [
    ProcessSpec("api", module_command("api")),
    ProcessSpec("relay", module_command("relay")),
    ProcessSpec("projections", module_command("worker", "--group", "projections")),
    ProcessSpec("agents", module_command("worker", "--group", "agents")),
    ProcessSpec("partners", module_command("worker", "--group", "partners")),
]
"""The children `modiste up` runs side by side, in this order. Append new processes here,
e.g. ``ProcessSpec("relay", module_command("relay"))`` or
``ProcessSpec("projections", module_command("worker", "--group", "projections"))``.
Each child gets MODISTE_DATABASE_URL, MODISTE_NATS_URL and MODISTE_DATA_DIR resolved."""


app = typer.Typer(
    name="modiste",
    help="Modiste: event-sourced backend of an AI fashion house.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,  # locals hold secrets and URLs
)


app.command()(operations.relay)
app.command()(operations.worker)
app.add_typer(operations.projections_app)
app.add_typer(models_app)
app.add_typer(search_app)
app.add_typer(partners_app)


@app.callback()
def _configure() -> None:
    """Runs before every command: logging from MODISTE_LOG_LEVEL / MODISTE_LOG_FORMAT."""
    settings = get_settings()
    configure_logging(settings.log_level, json=settings.log_json)


def _fail(message: str, code: int = 2) -> NoReturn:
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
    raise typer.Exit(code)


def resolve_jwt_secret(settings: Settings) -> str:
    """MODISTE_JWT_SECRET, else the local-mode secret file under the data dir."""
    if settings.jwt_secret:
        return settings.jwt_secret
    return load_or_create_secret(settings.data_dir / JWT_SECRET_FILE)


# -- token --------------------------------------------------------------------------------


def _check_role(value: str) -> str:
    if value not in ROLES:
        raise typer.BadParameter(f"must be one of {', '.join(ROLES)}")
    return value


@app.command()
def token(
    role: Annotated[
        str,
        typer.Option(help=f"One of: {', '.join(ROLES)}.", callback=_check_role),
    ],
    sub: Annotated[str, typer.Option(help="Subject id: the customer, merchant, ... id.")],
    ttl: Annotated[
        int | None,
        typer.Option(min=1, help="Lifetime in seconds [default: MODISTE_JWT_TTL_SECONDS]."),
    ] = None,
) -> None:
    """Print a signed JWT for local use (e.g. TOKEN=$(modiste token --role merchant --sub m-1))."""
    settings = get_settings()
    if not sub.strip():
        raise typer.BadParameter("must not be empty", param_hint="--sub")
    secret = resolve_jwt_secret(settings)
    typer.echo(issue_token(secret, sub=sub, role=role, ttl_seconds=ttl or settings.jwt_ttl_seconds))


# -- api ----------------------------------------------------------------------------------


@app.command()
def api(
    host: Annotated[str | None, typer.Option(help="[default: MODISTE_HOST]")] = None,
    port: Annotated[int | None, typer.Option(help="[default: MODISTE_PORT]")] = None,
) -> None:
    """Serve the REST API (uvicorn) against MODISTE_DATABASE_URL and MODISTE_NATS_URL."""
    settings = get_settings()
    missing = [
        name
        for name, value in (
            ("MODISTE_DATABASE_URL", settings.database_url),
            ("MODISTE_NATS_URL", settings.nats_url),
        )
        if not value
    ]
    if missing:
        _fail(
            f"`modiste api` needs {' and '.join(missing)}; set "
            + ("it" if len(missing) == 1 else "them")
            + ", or run `modiste up` to start local servers"
        )
    assert settings.database_url is not None and settings.nats_url is not None

    import uvicorn

    from interfaces.http.app import ApiConfig, create_app

    config = ApiConfig(
        settings=settings,
        database_url=settings.database_url,
        nats_url=settings.nats_url,
        jwt_secret=resolve_jwt_secret(settings),
    )
    uvicorn.run(
        create_app(config),
        host=host or settings.host,
        port=port or settings.port,
        log_config=None,  # keep the logging configured above
        server_header=False,
        timeout_graceful_shutdown=10,
    )


# -- up -----------------------------------------------------------------------------------


class _LocalServer(Protocol):
    def stop(self, timeout: float = ...) -> None: ...


def _port_available(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
        return True


def _browsable_host(host: str) -> str:
    return "127.0.0.1" if host in ("0.0.0.0", "", "::") else host  # noqa: S104 - comparison only


@contextlib.contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    """While servers start, SIGTERM aborts like Ctrl-C does (and cleanup still runs)."""

    def handler(_signum: int, _frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _wait_healthy(url: str, supervisor: Supervisor, timeout: float) -> tuple[bool, str]:
    """Poll the API's health until 200, a child dies, a stop is requested or time is up."""
    deadline = time.monotonic() + timeout
    last = "no answer yet"
    while time.monotonic() < deadline and not supervisor.stopping:
        try:
            supervisor.check()
        except ChildFailedError as exc:
            return False, str(exc)
        try:
            with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 - our own URL
                if response.status == 200:
                    return True, "ok"
        except urllib.error.HTTPError as exc:  # 503 while a dependency is down
            with contextlib.suppress(ValueError, OSError):
                last = f"HTTP {exc.code}: {json.loads(exc.read()).get('dependencies')}"
        except (OSError, ValueError) as exc:
            last = str(exc)
        time.sleep(0.25)
    return False, last


def _banner(settings: Settings, base_url: str, servers: dict[str, str], local: bool) -> list[str]:
    mode = f"local mode, data in {settings.data_dir}" if local else "using the configured servers"
    lines = [
        "",
        f"Modiste is up ({mode})",
        f"  API       {base_url}",
        f"  Docs      {base_url}/schema   (Swagger UI: {base_url}/schema/swagger)",
        f"  Health    {base_url}{HEALTH_PATH}",
    ]
    lines += [f"  {name:<9} {url}" for name, url in servers.items()]
    lines += [
        "  Token     TOKEN=$(just token merchant m-1)   "
        "(or: modiste token --role merchant --sub m-1)",
        f'            curl -H "Authorization: Bearer $TOKEN" {base_url}/products/<id>',
        "Press Ctrl-C to stop everything.",
        "",
    ]
    return lines


@app.command()
def up() -> None:
    """Run the whole system; starts local PostgreSQL and NATS when their URLs are unset.

    Local mode keeps the servers' data under MODISTE_DATA_DIR (.modiste/), so a second
    `modiste up` finds every event written before. Ctrl-C stops everything it started.
    """
    settings = get_settings()
    if not _port_available(settings.host, settings.port):
        _fail(
            f"{settings.host}:{settings.port} is already in use; stop what runs there "
            "or set MODISTE_PORT"
        )
    started: list[_LocalServer] = []
    exit_code = 0
    try:
        with _sigterm_as_interrupt():
            try:
                database_url, nats_url = _start_local_servers(settings, started)
            except (RuntimeError, OSError) as exc:  # TimeoutError is an OSError
                _fail(f"a local server did not start: {exc}", code=1)
            resolve_jwt_secret(settings)  # create the local secret before children race for it
        env = {
            "MODISTE_DATABASE_URL": database_url,
            "MODISTE_NATS_URL": nats_url,
            "MODISTE_DATA_DIR": str(settings.data_dir),
        }
        supervisor = Supervisor(
            [replace(spec, env={**env, **spec.env}) for spec in LOCAL_PROCESSES]
        )
        base_url = f"http://{_browsable_host(settings.host)}:{settings.port}"
        with supervisor.handling_signals():
            supervisor.start()
            healthy, detail = _wait_healthy(
                base_url + HEALTH_PATH, supervisor, API_READY_TIMEOUT_SECONDS
            )
            if not (healthy or supervisor.stopping or supervisor.failed):
                supervisor.note(f"the API is not healthy yet ({detail}); still waiting")
                healthy, detail = _wait_healthy(base_url + HEALTH_PATH, supervisor, math.inf)
            if healthy:
                servers = {"Postgres": _redact(database_url), "NATS": _redact(nats_url)}
                supervisor.print_block(_banner(settings, base_url, servers, bool(started)))
            exit_code = supervisor.wait()
    except KeyboardInterrupt:
        exit_code = 130
    finally:
        for server in reversed(started):
            with contextlib.suppress(Exception):
                server.stop()
        if started:
            typer.echo("modiste up: local servers stopped", err=True)
    raise typer.Exit(exit_code)


def _start_local_servers(settings: Settings, started: list[_LocalServer]) -> tuple[str, str]:
    """Start PostgreSQL and/or NATS for whichever URL is unset; return both URLs."""
    from infrastructure.local import LocalNats, LocalPostgres

    database_url = settings.database_url
    nats_url = settings.nats_url
    if database_url is None:
        typer.echo(f"modiste up: starting PostgreSQL in {settings.data_dir / 'postgres'}", err=True)
        postgres = LocalPostgres(settings.data_dir / "postgres")
        started.append(postgres)
        database_url = postgres.start(timeout=120)
    if nats_url is None:
        from infrastructure.local.nats_auth import NatsAccess

        typer.echo(f"modiste up: starting NATS JetStream in {settings.data_dir / 'nats'}", err=True)
        # Authorization on: Modiste's processes connect as the internal user, partners
        # with what `modiste partners add` gave them.
        access = NatsAccess.load_or_create(settings.data_dir)
        nats = LocalNats(settings.data_dir / "nats", config_text=access.config_text())
        started.append(nats)
        nats_url = access.internal_url(nats.start(timeout=30))
    return database_url, nats_url


def _redact(url: str) -> str:
    """A URL without its password, for printing."""
    scheme, sep, rest = url.partition("://")
    credentials, at, host = rest.rpartition("@")
    if not at or ":" not in credentials:
        return url
    return f"{scheme}{sep}{credentials.split(':', 1)[0]}:***@{host}"


if __name__ == "__main__":
    app(prog_name="modiste")
