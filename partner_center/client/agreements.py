"""Agreements: templates, documents, a customer's confirmations, its direct acceptance, the legacy one-step
confirmation, and Microsoft's enhanced attestation (the only partner path since 2026-01-05).

Wire names of the enhanced attestation that no Microsoft page shows come from `partner_center.wire_assumed`.
"""

from __future__ import annotations

from datetime import datetime

from partner_center import parsing
from partner_center import wire_assumed as assumed
from partner_center.client.transport import Answer, Endpoint, Transport, segment
from partner_center.errors import AGREEMENT_ALREADY_EXISTS_CODE, PartnerCenterBadResponse, PartnerCenterRejected
from partner_center.types import (
    MCA,
    AgreementContact,
    AgreementDocument,
    AgreementTemplate,
    ConfirmationResult,
    CustomerAgreement,
    DirectSignedStatus,
    EnhancedAttestation,
    Signatory,
    TokenKind,
)

# The legacy agreement endpoints are documented App+User only.
_AGREEMENTS = Endpoint("agreements", TokenKind.APP_USER, idempotent=True)
_AGREEMENT_DOCUMENT = Endpoint("agreement_document", TokenKind.APP_USER, idempotent=True)
_CUSTOMER_AGREEMENTS = Endpoint("customer_agreements", TokenKind.APP_USER, idempotent=True)
_CONFIRM_ACCEPTANCE = Endpoint("confirm_acceptance", TokenKind.APP_USER, idempotent=True)
_DIRECT_SIGNED = Endpoint("direct_signed_status", TokenKind.APP_USER, idempotent=True)
# The enhanced attestation API is documented app-only only. Creating the agreement from an attestation is a step
# of that API, so it takes the app-only token too, although the legacy confirmation on the same path took App+User.
_CREATE_ATTESTATION = Endpoint("create_enhanced_attestation", TokenKind.APP_ONLY, idempotent=True)
_GET_ATTESTATION = Endpoint("enhanced_attestation", TokenKind.APP_ONLY, idempotent=True)
_CANCEL_ATTESTATION = Endpoint("cancel_enhanced_attestation", TokenKind.APP_ONLY, idempotent=True)
_AGREEMENT_FROM_ATTESTATION = Endpoint("agreement_from_attestation", TokenKind.APP_ONLY, idempotent=True)


class AgreementsMixin(Transport):
    def get_agreement_templates(
        self, agreement_type: str = MCA, *, budget: float | None = None, correlation_id: str | None = None
    ) -> list[AgreementTemplate]:
        """Templates of one agreement type (`"*"` lists every type). Cached for PARTNER_CENTER_CACHE_TTL."""
        key = self._cache_key("templates", agreement_type)
        body = self._cache_get(key)
        if body is None:
            # agreementType is always sent: without it Microsoft answers for the old Cloud Agreement.
            answer = self._call(
                "GET",
                "/v1/agreements",
                _AGREEMENTS,
                params={"agreementType": agreement_type},
                budget=budget,
                correlation_id=correlation_id,
            )
            body = answer.body
            templates = self._parse(answer, parsing.parse_templates, body)
            if templates:
                self._cache_set(key, body)
        else:
            templates = self._parse(None, parsing.parse_templates, body)
        if agreement_type != "*":
            templates = [t for t in templates if t.agreement_type == agreement_type]
        return templates

    def get_current_template(
        self, agreement_type: str = MCA, *, budget: float | None = None, correlation_id: str | None = None
    ) -> AgreementTemplate:
        """The template with the highest versionRank."""
        templates = self.get_agreement_templates(agreement_type, budget=budget, correlation_id=correlation_id)
        if not templates:
            raise PartnerCenterBadResponse(f"Partner Center lists no {agreement_type} template.")
        return max(templates, key=lambda t: t.version_rank)

    def get_agreement_document(
        self,
        template_id: str,
        language: str,
        country: str,
        *,
        budget: float | None = None,
        correlation_id: str | None = None,
        use_cache: bool = True,
    ) -> AgreementDocument:
        """The agreement text for a country (upper-case ISO-2) and language.

        Microsoft's `downloadUri` changes on every call and expires after five minutes, so it is never cached:
        a cached document has `download_uri == ""` and only `display_uri`. Callers that need a live download link
        (a person just asked for the PDF) pass `use_cache=False`.
        """
        country = country.strip().upper()
        key = self._cache_key("document", template_id, language, country)
        cached = self._cache_get(key) if use_cache else None
        if cached is not None:
            return self._parse(
                None,
                parsing.parse_document,
                cached,
                template_id=template_id,
                language=language,
                country=country,
            )
        answer = self._call(
            "GET",
            f"/v1/agreementtemplates/{segment(template_id)}/document",
            _AGREEMENT_DOCUMENT,
            params={"language": language, "country": country},
            budget=budget,
            correlation_id=correlation_id,
        )
        document = self._parse(
            answer, parsing.parse_document, answer.body, template_id=template_id, language=language, country=country
        )
        self._cache_set(key, {k: v for k, v in answer.body.items() if k != "downloadUri"})
        return document

    def get_customer_agreements(
        self,
        tenant_id: str,
        agreement_type: str = MCA,
        *,
        budget: float | None = None,
        correlation_id: str | None = None,
        use_cache: bool = True,
    ) -> list[CustomerAgreement]:
        """The partner confirmations Partner Center holds for a customer.

        Only a non-empty list is cached: "not confirmed yet" must be re-asked, since it changes as soon as
        someone confirms (here or elsewhere) and a stale negative would block a purchase.
        """
        key = self._cache_key("customer_agreements", tenant_id, agreement_type)
        body = self._cache_get(key) if use_cache else None
        answer = None
        if body is None:
            answer = self._call(
                "GET",
                f"/v1/customers/{segment(tenant_id)}/agreements",
                _CUSTOMER_AGREEMENTS,
                params={"agreementType": agreement_type},
                budget=budget,
                correlation_id=correlation_id,
            )
            body = answer.body
        default_type = "" if agreement_type == "*" else agreement_type
        agreements = self._parse(answer, parsing.parse_customer_agreements, body, default_type=default_type)
        if agreement_type != "*":
            agreements = [a for a in agreements if a.agreement_type == agreement_type]
        if answer is not None and agreements:
            self._cache_set(key, body)
        return agreements

    def get_direct_signed_status(
        self,
        tenant_id: str,
        *,
        budget: float | None = None,
        correlation_id: str | None = None,
        use_cache: bool = True,
    ) -> DirectSignedStatus:
        """Whether the customer accepted the MCA itself. Only `isSigned: true` is cached (see above)."""
        key = self._cache_key("direct_signed", tenant_id)
        cached = self._cache_get(key) if use_cache else None
        if cached is not None:
            return self._parse(None, parsing.parse_direct_signed, cached)
        answer = self._call(
            "GET",
            f"/v1/customers/{segment(tenant_id)}/directSignedMicrosoftCustomerAgreementStatus",
            _DIRECT_SIGNED,
            budget=budget,
            correlation_id=correlation_id,
        )
        status = self._parse(answer, parsing.parse_direct_signed, answer.body)
        if status.is_signed:
            self._cache_set(key, answer.body)
        return status

    def confirm_customer_acceptance(
        self,
        tenant_id: str,
        contact: AgreementContact,
        template_id: str,
        date_agreed: datetime,
        request_id: str,
        *,
        agreement_type: str = MCA,
        correlation_id: str | None = None,
    ) -> ConfirmationResult:
        """Confirm (attest) that the customer accepted the agreement. `request_id` is the caller's persisted
        idempotency key: the same value must be passed when the whole confirmation is retried later.

        Microsoft's 600061 (an identical confirmation already exists) is a success here:
        `already_confirmed=True`, `agreement=None`.
        """
        primary_contact = {
            "firstName": contact.first_name,
            "lastName": contact.last_name,
            "email": contact.email,
        }
        if contact.phone_number:
            primary_contact["phoneNumber"] = contact.phone_number
        body = {
            "primaryContact": primary_contact,
            "templateId": template_id,
            "dateAgreed": parsing.format_datetime(date_agreed),
            "type": agreement_type,
        }
        return self._create_agreement(
            tenant_id,
            body,
            _CONFIRM_ACCEPTANCE,
            request_id,
            agreement_type=agreement_type,
            correlation_id=correlation_id,
        )

    # --- enhanced attestation ---------------------------------------------------------------------------------

    def create_enhanced_attestation(
        self,
        signatory: Signatory,
        *,
        country: str,
        language: str,
        request_id: str,
        correlation_id: str | None = None,
    ) -> EnhancedAttestation:
        """Ask Microsoft for an attestation the signatory will accept on Microsoft's page (`acceptance_url`).

        A write: `request_id` is the caller's persisted MS-RequestId, sent on every attempt and again when the
        caller retries later, so a lost answer cannot create a second attestation.
        """
        country = country.strip().upper()
        body: dict[str, str] = {
            assumed.COUNTRY: country,
            assumed.LANGUAGE: language,
            assumed.COMPANY_NAME: signatory.company_name,
            assumed.SIGNATORY_FIRST_NAME: signatory.first_name,
            assumed.SIGNATORY_LAST_NAME: signatory.last_name,
            assumed.SIGNATORY_EMAIL: signatory.email,
        }
        if signatory.phone_number:
            body[assumed.SIGNATORY_PHONE_NUMBER] = signatory.phone_number
        answer = self._call(
            "POST",
            assumed.ENHANCED_ATTESTATIONS_PATH,
            _CREATE_ATTESTATION,
            json_body=body,
            request_id=request_id,
            correlation_id=correlation_id,
        )
        return self._parse(
            answer,
            parsing.parse_enhanced_attestation,
            answer.body,
            sent_signatory=signatory,
            sent_country=country,
            sent_language=language,
        )

    def get_enhanced_attestation(
        self, attestation_id: str, *, budget: float | None = None, correlation_id: str | None = None
    ) -> EnhancedAttestation:
        """Where an attestation stands. Never cached: it is asked precisely to see a change (the signatory
        accepting), and a pending one past its `expiresAt` is reported as EXPIRED."""
        answer = self._call(
            "GET",
            assumed.enhanced_attestation_path(segment(attestation_id)),
            _GET_ATTESTATION,
            budget=budget,
            correlation_id=correlation_id,
        )
        return self._parse(answer, parsing.parse_enhanced_attestation, answer.body)

    def cancel_enhanced_attestation(
        self, attestation_id: str, *, budget: float | None = None, correlation_id: str | None = None
    ) -> EnhancedAttestation:
        """Withdraw a pending attestation (its signatory was changed, or the link cancelled): Microsoft's page no
        longer accepts the link. Idempotent; an attestation already accepted stays accepted (Microsoft refuses)."""
        answer = self._call(
            "DELETE",
            assumed.enhanced_attestation_path(segment(attestation_id)),
            _CANCEL_ATTESTATION,
            budget=budget,
            correlation_id=correlation_id,
        )
        return self._parse(answer, parsing.parse_enhanced_attestation, answer.body)

    def create_agreement_from_attestation(
        self,
        tenant_id: str,
        attestation_id: str,
        template_id: str,
        request_id: str,
        *,
        correlation_id: str | None = None,
    ) -> ConfirmationResult:
        """Create the customer's MCA agreement from an accepted attestation. `request_id` as for
        `confirm_customer_acceptance`; Microsoft's 600061 (the same signatory already has an agreement for this
        customer) is a success: `already_confirmed=True`, `agreement=None`."""
        body = {
            assumed.AGREEMENT_ATTESTATION_ID: attestation_id,
            assumed.AGREEMENT_TEMPLATE_ID: template_id,
            assumed.AGREEMENT_TYPE: MCA,
        }
        return self._create_agreement(
            tenant_id, body, _AGREEMENT_FROM_ATTESTATION, request_id, agreement_type=MCA, correlation_id=correlation_id
        )

    def _create_agreement(
        self,
        tenant_id: str,
        body: dict[str, object],
        endpoint: Endpoint,
        request_id: str,
        *,
        agreement_type: str,
        correlation_id: str | None,
    ) -> ConfirmationResult:
        """POST an agreement for a customer (legacy confirmation or from an attestation): 600061 is a success,
        and the customer's cached agreement lists are dropped whatever happens."""
        try:
            answer: Answer = self._call(
                "POST",
                assumed.customer_agreements_path(segment(tenant_id)),
                endpoint,
                json_body=body,
                request_id=request_id,
                correlation_id=correlation_id,
            )
        except PartnerCenterRejected as exc:
            if exc.code != AGREEMENT_ALREADY_EXISTS_CODE:
                raise
            return ConfirmationResult(
                already_confirmed=True,
                agreement=None,
                status_code=exc.status_code or 0,
                request_id=exc.request_id,
                correlation_id=exc.correlation_id,
                raw=exc.raw,
            )
        finally:
            # Whatever happened, a cached list for this customer may now be incomplete.
            self._cache_delete(self._cache_key("customer_agreements", tenant_id, agreement_type))
            self._cache_delete(self._cache_key("customer_agreements", tenant_id, "*"))
        agreement = self._parse(
            answer,
            lambda b: parsing.parse_customer_agreement(parsing.as_object(b), default_type=agreement_type),
            answer.body,
        )
        return ConfirmationResult(
            already_confirmed=False,
            agreement=agreement,
            status_code=answer.status,
            request_id=answer.request_id,
            correlation_id=answer.correlation_id,
            raw=answer.body,
        )
