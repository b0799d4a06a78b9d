"""Blobs: content-addressed images, public and cacheable forever."""

from __future__ import annotations

import re
from typing import Any

from litestar import Controller, Request, Response, get, head
from litestar.di import NamedDependency
from litestar.params import FromPath

from infrastructure.bootstrap import Container
from interfaces.http.context import read_in_thread
from interfaces.http.errors import PROBLEM_MEDIA_TYPE, problem
from interfaces.http.studio_errors import STUDIO_EXCEPTION_HANDLERS

_DIGEST = re.compile(r"[0-9a-f]{64}")
IMMUTABLE = "public, max-age=31536000, immutable"


class BlobController(Controller):
    path = "/blobs"
    tags = ["blobs"]
    exception_handlers = STUDIO_EXCEPTION_HANDLERS

    @get("/{sha256:str}", operation_id="getBlob", exclude_from_auth=True)
    async def get_blob(
        self,
        request: Request[Any, Any, Any],
        sha256: FromPath[str],
        container: NamedDependency[Container],
    ) -> Response[Any]:
        """The bytes stored under a sha256 address (design images, product photos).

        The address is the content's hash, so a response never changes: it is cacheable
        forever (``immutable``), and ``If-None-Match`` with its ETag answers 304.
        """
        if not _DIGEST.fullmatch(sha256):
            return problem(
                400,
                "invalid-input",
                "Invalid request",
                "a blob address is a lower-case sha256 hex digest",
                instance=request.url.path,
                invalid_params=[{"name": "sha256", "reason": "not a sha256", "in": "path"}],
            )
        etag = f'"{sha256}"'
        headers = {
            "ETag": etag,
            "Cache-Control": IMMUTABLE,
            "X-Content-Type-Options": "nosniff",
            "Content-Security-Policy": "default-src 'none'",
        }
        ref = await read_in_thread(container.blobs.stat, sha256)
        if etag in [tag.strip() for tag in request.headers.get("if-none-match", "").split(",")]:
            return Response(b"", status_code=304, headers=headers)
        data = await read_in_thread(container.blobs.get, sha256)
        return Response(data, media_type=ref.media_type, headers=headers)

    @head("/{sha256:str}", operation_id="headBlob", exclude_from_auth=True)
    async def head_blob(
        self, sha256: FromPath[str], container: NamedDependency[Container]
    ) -> Response[None]:
        """Whether a blob exists, with its type, size and caching headers (no body)."""
        if not _DIGEST.fullmatch(sha256):
            return Response(None, status_code=400, media_type=PROBLEM_MEDIA_TYPE)
        ref = await read_in_thread(container.blobs.stat, sha256)
        # An empty body Litestar can render under any media type (None renders only as text).
        empty: Any = b""
        return Response(
            empty,
            media_type=ref.media_type,
            headers={
                "ETag": f'"{sha256}"',
                "Cache-Control": IMMUTABLE,
                "Content-Length": str(ref.size),
                "X-Content-Type-Options": "nosniff",
            },
        )
