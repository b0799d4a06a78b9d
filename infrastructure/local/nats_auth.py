"""Who may connect to local mode's nats-server: Modiste itself, and each partner.

``<data_dir>/nats-auth.json`` (0600) holds the internal user's password and every partner's
user, password and allowed subjects; :func:`nats_config` renders it as the ``nats.conf``
the local server runs with. Modiste's own processes get full access (JetStream included)
through ``MODISTE_NATS_URL=nats://modiste:<password>@host:port``; a partner gets only what
:func:`~infrastructure.messaging.partners.partner_permissions` grants. After a change,
:func:`reload_local_nats` rewrites the config and sends the running server SIGHUP, which
reloads users and permissions without a restart.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import time
import urllib.request
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlparse, urlunparse

from infrastructure.local.nats import SERVER_NAME
from infrastructure.messaging.partners import (
    partner_permissions,
    partner_user,
    require_partner_name,
    require_public_subject,
)

ACCESS_FILE = "nats-auth.json"
INTERNAL_USER = "modiste"


def _password() -> str:
    return secrets.token_urlsafe(32)


@dataclass
class PartnerAccess:
    user: str
    password: str
    allow: list[str]
    created_at: str
    updated_at: str


@dataclass
class NatsAccess:
    path: Path
    internal_password: str
    partners: dict[str, PartnerAccess] = field(default_factory=dict)

    # -- persistence -----------------------------------------------------------------------

    @classmethod
    def load_or_create(cls, data_dir: Path) -> NatsAccess:
        """The access file under ``data_dir``, created with a fresh internal password."""
        path = Path(data_dir) / ACCESS_FILE
        if path.exists():
            raw = json.loads(path.read_text())
            return cls(
                path=path,
                internal_password=raw["internal"]["password"],
                partners={name: PartnerAccess(**value) for name, value in raw["partners"].items()},
            )
        access = cls(path=path, internal_password=_password())
        access.save()
        return access

    def save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        body = {
            "internal": {"user": INTERNAL_USER, "password": self.internal_password},
            "partners": {name: asdict(p) for name, p in sorted(self.partners.items())},
        }
        temporary = self.path.with_suffix(".tmp")
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as out:
            json.dump(body, out, indent=2)
        os.replace(temporary, self.path)

    # -- partners --------------------------------------------------------------------------

    def add_partner(self, name: str, allow: list[str], *, rotate: bool = False) -> PartnerAccess:
        """Grant ``name`` the ``allow`` subjects (replacing earlier ones; password kept
        unless ``rotate``)."""
        require_partner_name(name)
        if not allow:
            raise ValueError("a partner is allowed at least one subject")
        subjects = sorted({require_public_subject(s) for s in allow})
        now = datetime.now(UTC).isoformat(timespec="seconds")
        existing = self.partners.get(name)
        access = PartnerAccess(
            user=partner_user(name),
            password=_password() if existing is None or rotate else existing.password,
            allow=subjects,
            created_at=existing.created_at if existing else now,
            updated_at=now,
        )
        self.partners[name] = access
        return access

    def remove_partner(self, name: str) -> bool:
        return self.partners.pop(name, None) is not None

    # -- rendering -------------------------------------------------------------------------

    def internal_url(self, server_url: str) -> str:
        """``server_url`` with the internal user's credentials in it."""
        return with_credentials(server_url, INTERNAL_USER, self.internal_password)

    def config_text(self) -> str:
        return nats_config(self)


def with_credentials(server_url: str, user: str, password: str) -> str:
    parts = urlparse(server_url)
    host = parts.netloc.rpartition("@")[2]
    return urlunparse(parts._replace(netloc=f"{user}:{password}@{host}"))


def _permissions(access: PartnerAccess, name: str) -> dict[str, Any]:
    granted = partner_permissions(name, access.allow)
    return {
        "publish": {"allow": granted.publish},
        "subscribe": {"allow": granted.subscribe},
    }


def nats_config(access: NatsAccess) -> str:
    """``nats.conf`` text: the internal user (everything) and the partners (confined).

    Written as JSON values inside the NATS config syntax (quoted strings keep ``$JS`` from
    being read as a variable).
    """
    users: list[dict[str, Any]] = [{"user": INTERNAL_USER, "password": access.internal_password}]
    for name, partner in sorted(access.partners.items()):
        users.append(
            {
                "user": partner.user,
                "password": partner.password,
                "permissions": _permissions(partner, name),
            }
        )
    rendered_users = ",\n".join(f"    {json.dumps(u)}" for u in users)
    return (
        "# Written by Modiste from nats-auth.json: change it with `modiste partners ...`.\n"
        # Repeats the -n flag: a reload compares the file's name with the running one.
        f"server_name: {json.dumps(SERVER_NAME)}\n"
        # Users of the default account, whose JetStream the -js flag enables (so a data
        # dir from before authorization keeps its streams).
        "authorization {\n"
        "  users: [\n"
        f"{rendered_users}\n"
        "  ]\n"
        "}\n"
    )


def _config_load_time(monitor_url: str) -> str | None:
    try:
        with urllib.request.urlopen(f"{monitor_url}/varz", timeout=2) as response:  # noqa: S310 - localhost
            return str(json.loads(response.read()).get("config_load_time"))
    except (OSError, ValueError):
        return None


def reload_local_nats(access: NatsAccess, nats_dir: Path, timeout: float = 10.0) -> bool:
    """Rewrite ``nats.conf`` in ``nats_dir``; if its server runs, make it reload (SIGHUP).

    Returns True when a running server confirmed the reload, False when none runs (the
    next start reads the new config).
    """
    from infrastructure.local import LocalNats

    server = LocalNats(nats_dir, config_text=access.config_text())
    nats_dir.mkdir(parents=True, exist_ok=True)
    server.config_path.write_text(access.config_text())
    pid = server.pid
    if pid is None:
        return False
    monitor_url = _monitor_url(nats_dir)
    before = _config_load_time(monitor_url) if monitor_url else None
    os.kill(pid, signal.SIGHUP)
    deadline = time.monotonic() + timeout
    while monitor_url and time.monotonic() < deadline:
        after = _config_load_time(monitor_url)
        if after is not None and after != before:
            return True
        time.sleep(0.05)
    return monitor_url is None


def _monitor_url(nats_dir: Path) -> str | None:
    try:
        state = json.loads((nats_dir / "nats.port").read_text())
    except (OSError, ValueError):
        return None
    port = state.get("monitor_port")
    return f"http://127.0.0.1:{port}" if isinstance(port, int) else None


def local_server_url(nats_dir: Path) -> str | None:
    """``nats://127.0.0.1:PORT`` of the local server last started in ``nats_dir``."""
    try:
        state = json.loads((nats_dir / "nats.port").read_text())
    except (OSError, ValueError):
        return None
    port = state.get("port")
    return f"nats://127.0.0.1:{port}" if isinstance(port, int) else None
