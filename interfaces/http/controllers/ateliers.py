"""Ateliers and atelier matches: register, browse, match a design, quote, accept.

Contact details are shown to the atelier itself and, once a match is accepted, to the
designer who requested it; nobody else (operators included) ever reads them.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any

import asyncpg
from litestar import Controller, Request, Response, get, post
from litestar.di import NamedDependency
from litestar.openapi import ResponseSpec
from litestar.params import FromPath, JSONBody, QueryParameter

from application.ateliers import RegisterAtelier, RequestMatch, SubmitQuote
from application.errors import PermissionDeniedError
from domain.ateliers.aggregates import Atelier, AtelierMatch, MatchStatus, atelier_id_for
from domain.ateliers.matching import DesignRequirements
from domain.ateliers.values import (
    Capabilities,
    ContactDetails,
    GeoPoint,
    Location,
    PriceBand,
    normalise_category,
)
from domain.shared.errors import ValidationError
from domain.shared.money import Money
from infrastructure.bootstrap import Container
from infrastructure.idempotency import IdempotencyStore
from interfaces.http.ateliers_schemas import (
    Acceptance,
    AcceptedContactOut,
    AtelierCreate,
    AtelierOut,
    AtelierPage,
    CapabilitiesIn,
    MatchCreate,
    MatchOut,
    QuoteCreate,
    atelier_out,
    atelier_summary,
    match_out,
)
from interfaces.http.auth import Principal, requires_role
from interfaces.http.context import (
    caught_up,
    idempotent,
    in_thread,
    json_response,
    principal_of,
    read_in_thread,
)
from interfaces.http.controllers.orders import IdempotencyKey
from interfaces.http.controllers.products import IfMatch, expected_version
from interfaces.http.presenters import version_headers
from projections.ateliers import atelier_candidates, list_ateliers


def _capabilities(data: CapabilitiesIn | AtelierCreate) -> Capabilities:
    return Capabilities.of(
        categories=data.categories,
        max_complexity=data.max_complexity,
        location=Location(
            GeoPoint(data.location.latitude, data.location.longitude), data.location.city
        ),
        price_band=PriceBand(data.price_band.min, data.price_band.max, data.price_band.currency),
        capacity_per_month=data.capacity_per_month,
    )


def _is_owner(principal: Principal, atelier: Atelier) -> bool:
    return principal.role == "partner" and atelier.partner_id == principal.sub


class AtelierController(Controller):
    path = "/ateliers"
    tags = ["ateliers"]

    @post(
        "/",
        operation_id="registerAtelier",
        guards=[requires_role("operator", "partner")],
        status_code=201,
        responses={201: ResponseSpec(AtelierOut, description="The registered atelier")},
    )
    async def register_atelier(
        self,
        request: Request[Any, Any, Any],
        data: JSONBody[AtelierCreate],
        container: NamedDependency[Container],
    ) -> Response[bytes]:
        """Register an atelier: a partner registers itself, an operator names the partner.

        Contact details are encrypted before they are stored.
        """
        principal = principal_of(request)
        if principal.role == "partner":
            if data.partner_id not in (None, principal.sub):
                raise PermissionDeniedError("a partner registers only its own atelier")
            partner_id = principal.sub
        elif data.partner_id is None:
            raise ValidationError(
                "operators name the partner account the atelier acts as", "partner_id"
            )
        else:
            partner_id = data.partner_id
        contact = ContactDetails(data.contact.email, data.contact.phone)
        command = RegisterAtelier(
            name=data.name,
            partner_id=partner_id,
            capabilities=_capabilities(data),
            contact=contact,
        )
        result = await in_thread(request, container.ateliers.register_atelier, command)
        atelier = result.aggregate
        headers = version_headers(atelier.version, result.position)
        headers["Location"] = f"/ateliers/{atelier.id}"
        shown = contact if _is_owner(principal, atelier) else None
        return json_response(atelier_out(atelier, result.position, shown), 201, headers)

    @get("/", operation_id="listAteliers")
    async def list_ateliers(
        self,
        db_pool: NamedDependency[asyncpg.Pool],
        container: NamedDependency[Container],
        category: Annotated[str | None, QueryParameter(max_length=100)] = None,
        city: Annotated[str | None, QueryParameter(max_length=100)] = None,
        limit: Annotated[int, QueryParameter(ge=1, le=100)] = 20,
        cursor: Annotated[str | None, QueryParameter(max_length=500)] = None,
        min_position: Annotated[int | None, QueryParameter(ge=0)] = None,
    ) -> AtelierPage:
        """The atelier directory (no contact details), newest first."""
        position = await caught_up(
            db_pool, "ateliers", min_position, container.settings.read_wait_timeout_seconds
        )
        page = await list_ateliers(db_pool, category, city, limit, cursor)
        return AtelierPage(
            items=[atelier_summary(row) for row in page.items],
            next_cursor=page.next_cursor,
            position=position,
        )

    @get(
        "/{atelier_id:uuid}",
        operation_id="getAtelier",
        responses={200: ResponseSpec(AtelierOut, description="The atelier")},
    )
    async def get_atelier(
        self,
        request: Request[Any, Any, Any],
        atelier_id: FromPath[uuid.UUID],
        container: NamedDependency[Container],
    ) -> Response[bytes]:
        """Read an atelier; only the atelier itself sees its contact details here."""
        atelier = await read_in_thread(container.ateliers.get_atelier, atelier_id)
        contact = None
        if _is_owner(principal_of(request), atelier):
            contact = await read_in_thread(container.ateliers.contact_of, atelier)
        return json_response(
            atelier_out(atelier, None, contact), headers=version_headers(atelier.version, None)
        )

    @post(
        "/{atelier_id:uuid}/capabilities",
        operation_id="updateAtelierCapabilities",
        guards=[requires_role("operator", "partner")],
        status_code=200,
        responses={200: ResponseSpec(AtelierOut, description="The atelier")},
    )
    async def update_capabilities(
        self,
        request: Request[Any, Any, Any],
        atelier_id: FromPath[uuid.UUID],
        data: JSONBody[CapabilitiesIn],
        container: NamedDependency[Container],
        if_match: IfMatch = None,
    ) -> Response[bytes]:
        """Change what an atelier makes (the atelier itself or an operator)."""
        principal = principal_of(request)
        atelier = await read_in_thread(container.ateliers.get_atelier, atelier_id)
        if principal.role == "partner" and not _is_owner(principal, atelier):
            raise PermissionDeniedError("a partner changes only its own atelier")
        capabilities = _capabilities(data)
        result = await in_thread(
            request,
            lambda: container.ateliers.update_capabilities(
                atelier_id, capabilities, expected_version=expected_version(if_match)
            ),
        )
        return json_response(
            atelier_out(result.aggregate, result.position),
            headers=version_headers(result.aggregate.version, result.position),
        )


async def _visible_match(
    request: Request[Any, Any, Any], container: Container, match_id: uuid.UUID
) -> tuple[AtelierMatch, str | None]:
    """The match and, for an atelier, the atelier id its view is limited to."""
    match = await read_in_thread(container.ateliers.get_match, match_id)
    principal = principal_of(request)
    if principal.role == "operator":
        return match, None
    if principal.role == "designer" and match.requested_by == principal.sub:
        return match, None
    if principal.role == "partner":
        atelier_id = str(atelier_id_for(principal.sub))
        if match.is_candidate(atelier_id):
            return match, atelier_id
    raise PermissionDeniedError("only the designer who asked and the ateliers asked see a match")


async def _accepted_contact(
    request: Request[Any, Any, Any], container: Container, match: AtelierMatch
) -> AcceptedContactOut | None:
    """The accepted atelier's contact, for the two parties of the accepted match only."""
    accepted = match.accepted_quote
    if match.status is not MatchStatus.ACCEPTED or accepted is None:
        return None
    principal = principal_of(request)
    is_designer = principal.role == "designer" and principal.sub == match.requested_by
    is_atelier = principal.role == "partner" and str(atelier_id_for(principal.sub)) == (
        accepted.atelier_id
    )
    if not (is_designer or is_atelier):
        return None
    atelier = await read_in_thread(container.ateliers.get_atelier, uuid.UUID(accepted.atelier_id))
    contact = await read_in_thread(container.ateliers.contact_of, atelier)
    return AcceptedContactOut(
        atelier_id=atelier.id, name=atelier.name, email=contact.email, phone=contact.phone
    )


class AtelierMatchController(Controller):
    path = "/"
    tags = ["atelier matches"]

    @post(
        "/designs/{design_id:uuid}/atelier-matches",
        operation_id="requestAtelierMatch",
        guards=[requires_role("designer")],
        status_code=201,
        responses={201: ResponseSpec(MatchOut, description="Ranked ateliers, each scored")},
    )
    async def request_match(
        self,
        request: Request[Any, Any, Any],
        design_id: FromPath[uuid.UUID],
        data: JSONBody[MatchCreate],
        container: NamedDependency[Container],
        db_pool: NamedDependency[asyncpg.Pool],
        idempotency: NamedDependency[IdempotencyStore],
        idempotency_key: IdempotencyKey = None,
    ) -> Response[bytes]:
        """Rank ateliers for a design and ask the best ones to quote (MatchRequested).

        The response lists the asked ateliers best first, with every score component.
        """
        designer = principal_of(request).sub
        requirements = DesignRequirements(
            category=normalise_category(data.category, "category"),
            complexity=data.complexity,
            budget=Money(data.budget.max, data.budget.currency),
            location=GeoPoint(data.location.latitude, data.location.longitude)
            if data.location
            else None,
        )

        async def produce() -> Response[bytes]:
            ateliers = await atelier_candidates(db_pool, requirements.category)
            result = await in_thread(
                request,
                container.ateliers.request_match,
                RequestMatch(
                    design_id=design_id,
                    requested_by=designer,
                    requirements=requirements,
                    limit=data.limit,
                    idempotency_key=idempotency_key,
                ),
                ateliers,
            )
            match = result.aggregate
            headers = version_headers(match.version, result.position)
            headers["Location"] = f"/atelier-matches/{match.id}"
            return json_response(match_out(match, position=result.position), 201, headers)

        return await idempotent(request, idempotency_key, idempotency, produce)

    @get(
        "/atelier-matches/{match_id:uuid}",
        operation_id="getAtelierMatch",
        responses={200: ResponseSpec(MatchOut, description="The match as the caller sees it")},
    )
    async def get_match(
        self,
        request: Request[Any, Any, Any],
        match_id: FromPath[uuid.UUID],
        container: NamedDependency[Container],
    ) -> Response[bytes]:
        """Read a match: the designer sees it all, an atelier only its own share."""
        match, only_atelier = await _visible_match(request, container, match_id)
        contact = await _accepted_contact(request, container, match)
        return json_response(
            match_out(match, only_atelier=only_atelier, contact=contact),
            headers=version_headers(match.version, None),
        )

    @post(
        "/atelier-matches/{match_id:uuid}/quotes",
        operation_id="submitAtelierQuote",
        guards=[requires_role("partner")],
        status_code=201,
        responses={201: ResponseSpec(MatchOut, description="Your share of the match")},
    )
    async def submit_quote(
        self,
        request: Request[Any, Any, Any],
        match_id: FromPath[uuid.UUID],
        data: JSONBody[QuoteCreate],
        container: NamedDependency[Container],
        idempotency: NamedDependency[IdempotencyStore],
        idempotency_key: IdempotencyKey = None,
    ) -> Response[bytes]:
        """Quote for a match your atelier was asked about (a new quote replaces the last)."""
        partner = principal_of(request).sub

        async def produce() -> Response[bytes]:
            result, _ = await in_thread(
                request,
                container.ateliers.submit_quote,
                SubmitQuote(
                    match_id=match_id,
                    partner_id=partner,
                    price=Money(data.price, data.currency),
                    lead_time_days=data.lead_time_days,
                    note=data.note,
                    idempotency_key=idempotency_key,
                ),
            )
            match = result.aggregate
            return json_response(
                match_out(
                    match, position=result.position, only_atelier=str(atelier_id_for(partner))
                ),
                201,
                version_headers(match.version, result.position),
            )

        return await idempotent(request, idempotency_key, idempotency, produce)

    @post(
        "/atelier-matches/{match_id:uuid}/accept",
        operation_id="acceptAtelierQuote",
        guards=[requires_role("designer")],
        status_code=200,
        responses={200: ResponseSpec(MatchOut, description="The accepted match")},
    )
    async def accept_quote(
        self,
        request: Request[Any, Any, Any],
        match_id: FromPath[uuid.UUID],
        data: JSONBody[Acceptance],
        container: NamedDependency[Container],
    ) -> Response[bytes]:
        """Accept one atelier's current quote (MatchAccepted); its contact is then shown."""
        designer = principal_of(request).sub
        result = await in_thread(
            request, container.ateliers.accept_quote, match_id, data.quote_id, designer
        )
        match = result.aggregate
        contact = await _accepted_contact(request, container, match)
        return json_response(
            match_out(match, position=result.position, contact=contact),
            headers=version_headers(match.version, result.position),
        )
