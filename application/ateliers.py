"""Atelier use cases: register, update capabilities, request a match, quote, accept.

Contact details are sealed (encrypted) here, before the command reaches the aggregate,
with the :class:`Sealer` port; they are unsealed only for the parties of an accepted match.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Protocol

from eventsourcing.persistence import InfrastructureFactory, IntegrityError

from application.base import CommandResult, ModisteApplication, last_position
from application.errors import NotFoundError, PermissionDeniedError
from domain.ateliers.aggregates import Atelier, AtelierMatch, atelier_id_for
from domain.ateliers.matching import AtelierProfile, DesignRequirements, rank_ateliers
from domain.ateliers.values import Capabilities, ContactDetails
from domain.shared.errors import InvariantViolationError
from domain.shared.money import Money

ATELIER_COMMAND_NAMESPACE = uuid.UUID("b3f7f1c4-3f0e-4b7e-8a55-2c1d9e6a7f30")


class Sealer(Protocol):
    """Encrypts a short text for storage in an event, and back (authenticated encryption)."""

    def seal(self, plaintext: str) -> str: ...

    def unseal(self, sealed: str) -> str: ...


def command_id(*parts: str) -> uuid.UUID:
    """A deterministic id for a command retried under the same Idempotency-Key."""
    return uuid.uuid5(ATELIER_COMMAND_NAMESPACE, "\x1f".join(parts))


@dataclass(frozen=True)
class RegisterAtelier:
    name: str
    partner_id: str
    capabilities: Capabilities
    contact: ContactDetails


@dataclass(frozen=True)
class RequestMatch:
    design_id: uuid.UUID
    requested_by: str
    requirements: DesignRequirements
    limit: int = 3
    idempotency_key: str | None = None


@dataclass(frozen=True)
class SubmitQuote:
    match_id: uuid.UUID
    partner_id: str
    price: Money
    lead_time_days: int
    note: str = ""
    idempotency_key: str | None = None


class AteliersApplication(ModisteApplication):
    """The ateliers context's command and query façade."""

    def __init__(
        self, factory: InfrastructureFactory, snapshot_interval: int = 50, *, sealer: Sealer
    ) -> None:
        super().__init__(factory, snapshot_interval)
        self.sealer = sealer

    # -- ateliers ------------------------------------------------------------------------

    def register_atelier(self, command: RegisterAtelier) -> CommandResult[Atelier]:
        """Register the atelier a partner acts for; a partner has one atelier."""
        atelier = Atelier.register(
            name=command.name,
            partner_id=command.partner_id,
            capabilities=command.capabilities,
            email_sealed=self.sealer.seal(command.contact.email.strip()),
            phone_sealed=self.sealer.seal(command.contact.phone.strip()),
        )
        try:
            return CommandResult(atelier, last_position(self.save(atelier)))
        except IntegrityError:
            raise InvariantViolationError(
                f"partner {command.partner_id!r} already has an atelier ({atelier.id}); "
                "update its capabilities instead"
            ) from None

    def update_capabilities(
        self,
        atelier_id: uuid.UUID,
        capabilities: Capabilities,
        *,
        expected_version: int | None = None,
    ) -> CommandResult[Atelier]:
        return self.execute(
            atelier_id,
            Atelier,
            lambda a: a.update_capabilities(capabilities),
            expected_version=expected_version,
        )

    def get_atelier(self, atelier_id: uuid.UUID) -> Atelier:
        return self.load(atelier_id, Atelier)

    def atelier_of_partner(self, partner_id: str) -> Atelier:
        """The atelier ``partner_id`` acts for (NotFoundError if it registered none)."""
        return self.load(atelier_id_for(partner_id), Atelier)

    def contact_of(self, atelier: Atelier) -> ContactDetails:
        """Unseal an atelier's contact details (callers check who may see them)."""
        return ContactDetails(
            email=self.sealer.unseal(atelier.email_sealed),
            phone=self.sealer.unseal(atelier.phone_sealed),
        )

    # -- matches -------------------------------------------------------------------------

    def request_match(
        self, command: RequestMatch, ateliers: list[AtelierProfile]
    ) -> CommandResult[AtelierMatch]:
        """Rank ``ateliers`` for the design and ask the best ``limit`` of them to quote.

        With an idempotency key the match id is derived from it, so a retry returns the
        match the first request created.
        """
        match_id = (
            command_id(
                "match", command.requested_by, str(command.design_id), command.idempotency_key
            )
            if command.idempotency_key
            else uuid.uuid4()
        )
        if command.idempotency_key:
            existing = self._find_match(match_id)
            if existing is not None:
                return CommandResult(existing, None)
        ranked = rank_ateliers(command.requirements, ateliers, command.limit)
        match = AtelierMatch.request(
            design_id=str(command.design_id),
            requested_by=command.requested_by,
            design=command.requirements,
            ranked=ranked,
            match_id=match_id,
        )
        try:
            return CommandResult(match, last_position(self.save(match)))
        except IntegrityError:
            return CommandResult(self.load(match_id, AtelierMatch), None)

    def submit_quote(self, command: SubmitQuote) -> tuple[CommandResult[AtelierMatch], str]:
        """The partner's atelier quotes for a match it was asked to quote for.

        Returns the match and the quote's id (the same id when a keyed request is retried).
        """
        atelier_id = str(atelier_id_for(command.partner_id))
        match = self.get_match(command.match_id)
        if not match.is_candidate(atelier_id):
            raise PermissionDeniedError("your atelier was not asked to quote for this match")
        quote_id = (
            command_id("quote", atelier_id, str(command.match_id), command.idempotency_key).hex
            if command.idempotency_key
            else uuid.uuid4().hex
        )
        result = self.execute(
            command.match_id,
            AtelierMatch,
            lambda m: m.submit_quote(
                quote_id=quote_id,
                atelier_id=atelier_id,
                price=command.price,
                lead_time_days=command.lead_time_days,
                note=command.note,
            ),
        )
        return result, quote_id

    def accept_quote(
        self, match_id: uuid.UUID, quote_id: str, designer: str
    ) -> CommandResult[AtelierMatch]:
        """The designer who requested the match accepts one atelier's current quote."""
        if self.get_match(match_id).requested_by != designer:
            raise PermissionDeniedError("only the designer who requested the match accepts")
        return self.execute(match_id, AtelierMatch, lambda m: m.accept(quote_id))

    def get_match(self, match_id: uuid.UUID) -> AtelierMatch:
        return self.load(match_id, AtelierMatch)

    def _find_match(self, match_id: uuid.UUID) -> AtelierMatch | None:
        try:
            return self.load(match_id, AtelierMatch)
        except NotFoundError:
            return None
