"""The partner contract's JSON Schema, public (no token): partners validate against it."""

from __future__ import annotations

from litestar import Controller, Response, get

from interfaces.partners.schema import schema_json


class PartnerEventsController(Controller):
    path = "/api/v1/events"
    tags = ["partners"]

    @get("/schema", operation_id="partnerEventsSchema", exclude_from_auth=True)
    async def schema(self) -> Response[bytes]:
        """JSON Schema (draft 2020-12) of every partner event v1 on modiste.public.v1.>."""
        return Response(
            schema_json().encode(),
            media_type="application/schema+json",
            headers={"Cache-Control": "public, max-age=300"},
        )
