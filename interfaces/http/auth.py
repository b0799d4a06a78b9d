"""JWT bearer auth (Litestar's JWTAuth over pyjwt) and role guards."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any, Literal, get_args

from litestar.connection import ASGIConnection
from litestar.exceptions import NotAuthorizedException, PermissionDeniedException
from litestar.handlers.base import BaseRouteHandler
from litestar.security.jwt import JWTAuth, Token

Role = Literal["customer", "designer", "merchant", "operator", "partner"]
ROLES: tuple[str, ...] = get_args(Role)

PUBLIC_PATHS = [
    "/api/system/health",
    "/schema",
    "/metrics",
    "/blobs",
    "/api/v1/events/schema",
]


@dataclass(frozen=True)
class Principal:
    """The authenticated caller: subject id and role."""

    sub: str
    role: str

    @property
    def actor(self) -> str:
        return f"{self.role}:{self.sub}"


async def _retrieve_principal(token: Token, _: ASGIConnection[Any, Any, Any, Any]) -> Principal:
    role = token.extras.get("role")
    if role not in ROLES:
        raise NotAuthorizedException(detail="token carries no known role")
    return Principal(sub=token.sub, role=str(role))


def build_jwt_auth(secret: str, ttl_seconds: int) -> JWTAuth[Principal, Token]:
    """Litestar's JWT middleware config: bearer tokens on every path but the public ones."""
    return JWTAuth[Principal, Token](
        retrieve_user_handler=_retrieve_principal,
        token_secret=secret,
        algorithm="HS256",
        default_token_expiration=timedelta(seconds=ttl_seconds),
        exclude=PUBLIC_PATHS,
    )


def issue_token(secret: str, *, sub: str, role: str, ttl_seconds: int = 3600) -> str:
    """Sign a token for ``sub`` with ``role`` (used by `modiste token` and the tests)."""
    if role not in ROLES:
        raise ValueError(f"role must be one of {', '.join(ROLES)}")
    auth = build_jwt_auth(secret, ttl_seconds)
    return auth.create_token(identifier=sub, token_extras={"role": role})


def load_or_create_secret(path: Path) -> str:
    """The local-mode signing secret, generated once and kept (0600) under the data dir."""
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    secret = secrets.token_urlsafe(48)
    path.write_text(secret)
    path.chmod(0o600)
    return secret


def requires_role(*roles: str) -> Any:
    """A Litestar guard admitting only callers whose role is in ``roles``."""

    def guard(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
        principal = connection.user
        if not isinstance(principal, Principal) or principal.role not in roles:
            raise PermissionDeniedException(
                detail=f"this action needs one of the roles: {', '.join(roles)}"
            )

    return guard
