"""Which agreement the person is shown: the current MCA template and its document for the customer's country and
language, from Partner Center (cached by the client) or, when it cannot answer in time, the last one it named."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from django.db import transaction

from bss.models import Account
from mca.models import KnownTemplate
from partner_center.client import get_client
from partner_center.errors import PartnerCenterError
from partner_center.types import MCA

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ShownTemplate:
    template_id: str
    version_rank: int | None
    document_link: str
    country: str
    language: str
    # False when Partner Center did not answer and this is the last template it named (or nothing at all).
    fresh: bool = True


def customer_locale(account: Account) -> tuple[str, str]:
    """The customer's country (Microsoft's MCA is country-specific) and language, with Microsoft's defaults."""
    return account.country.code or "US", account.language or "en-US"


def shown_template(account: Account, *, deadline: float, correlation_id: str | None = None) -> ShownTemplate:
    """The template and document link for `account`, asked within the time left before `deadline`
    (a `time.monotonic()` value); falls back to the last known one stored here."""
    country, language = customer_locale(account)
    memo = _shown.get((country, language))
    if memo is not None and time.monotonic() < memo[0]:
        return memo[1]
    client = get_client()
    try:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError("no time left for the template lookup")
        template = client.get_current_template(MCA, budget=remaining, correlation_id=correlation_id)
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError("no time left for the document lookup")
        document = client.get_agreement_document(
            template.template_id, language, country, budget=remaining, correlation_id=correlation_id
        )
    except (PartnerCenterError, TimeoutError) as error:
        logger.warning("Agreement template for %s/%s from the last known copy: %s", country, language, error)
        return last_known_template(country, language)
    shown = ShownTemplate(template.template_id, template.version_rank, document.display_uri, country, language)
    _remember(shown)
    _shown[(country, language)] = (time.monotonic() + SHOWN_MEMO_SECONDS, shown)
    return shown


def last_known_template(country: str, language: str) -> ShownTemplate:
    known = KnownTemplate.objects.filter(agreement_type=MCA, country=country, language=language).first()
    if known is None:
        # Another country's document is still the same template: better a template id than none.
        known = KnownTemplate.objects.filter(agreement_type=MCA).order_by("-updated_at").first()
        if known is None:
            return ShownTemplate("", None, "", country, language, fresh=False)
        return ShownTemplate(known.template_id, known.version_rank, "", country, language, fresh=False)
    return ShownTemplate(known.template_id, known.version_rank, known.document_link, country, language, fresh=False)


# What this process was last shown fresh per (country, language), and until when (time.monotonic()) it is shown
# again without asking the client's cache: every confirmation shows a template, and the cache's two reads (template
# and document, a Redis round trip each) were a tenth of a confirmation's CPU (issue 20). A template Microsoft
# replaces is cached by the client for PARTNER_CENTER_CACHE_TTL anyway; this adds at most a few seconds to that.
SHOWN_MEMO_SECONDS = 5.0
_shown: dict[tuple[str, str], tuple[float, ShownTemplate]] = {}

# What this process last found stored per (country, language). Every confirmation shows a template, and the
# client's cache answers for it: with this memo the usual one costs no query at all (it was a read each time).
_stored: dict[tuple[str, str], tuple[str, int | None, str]] = {}


def forget_stored_templates() -> None:
    """Drop the memos (tests whose database and cache are emptied between them)."""
    _stored.clear()
    _shown.clear()


def _remember(shown: ShownTemplate) -> None:
    place = (shown.country, shown.language)
    value = (shown.template_id, shown.version_rank, shown.document_link)
    if _stored.get(place) == value:
        return
    # Written only when it changed.
    current = (
        KnownTemplate.objects.filter(agreement_type=MCA, country=shown.country, language=shown.language)
        .values_list("template_id", "version_rank", "document_link")
        .first()
    )
    if current == value:
        _stored[place] = value
        return
    KnownTemplate.objects.update_or_create(
        agreement_type=MCA,
        country=shown.country,
        language=shown.language,
        defaults={
            "template_id": shown.template_id,
            "version_rank": shown.version_rank,
            "document_link": shown.document_link,
        },
    )
    # After commit only: a rolled-back write must be tried again.
    transaction.on_commit(lambda: _stored.__setitem__(place, value))
