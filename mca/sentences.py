"""The gate's reason sentences: English where they are stored (order history notes, provisioning messages, the hold
signal's reason, the API's `mca_state`), translated where a person reads them.

Each sentence is declared once as a msgid with named values (`Sentence`); calling it gives the English text that is
stored and compared, as before. `translate(text)` turns such an English text back into its msgid and values (each
value translated the same way, so a reason inside ", verified ..." is translated too) and renders it with gettext in
the active language; a text no sentence matches (older wording, a Partner Center message) is shown as it is. Because
it reads the English text, a note stored long ago is translated as well as a reason computed now.

    PENDING_SIGNATORY(name="Nancy Davolio")   -> "Pending: waiting for Nancy Davolio to accept at Microsoft"
    {{ decision.reason|mca_sentence }}        -> "Ausstehend: ..." for a German customer
"""

from __future__ import annotations

import re
from functools import lru_cache

from django.utils.translation import gettext, gettext_noop

_PLACEHOLDER = re.compile(r"%\((\w+)\)s")
_ALL: list[Sentence] = []


class Sentence:
    """One reason sentence: `msgid` (English, with %(name)s values) is what gettext translates."""

    def __init__(self, msgid: str) -> None:
        self.msgid = msgid
        parts = _PLACEHOLDER.split(msgid)
        # Literal text escaped, each value a lazy group: "a, verified b" splits at the last literal that fits.
        self.pattern = re.compile(
            "".join(re.escape(part) if i % 2 == 0 else f"(?P<{part}>.+?)" for i, part in enumerate(parts)),
            re.DOTALL,
        )
        _ALL.append(self)

    def __call__(self, **values: object) -> str:
        return self.msgid % {name: str(value) for name, value in values.items()}

    def __repr__(self) -> str:
        return f"Sentence({self.msgid!r})"


def translate(text: str) -> str:
    """`text` (an English sentence made by a `Sentence`) in the active language; any other text as it is."""
    if not text:
        return text
    found = _match(str(text))
    if found is None:
        return text
    sentence, values = found
    return gettext(sentence.msgid) % {name: translate(value) for name, value in values.items()}


@lru_cache(maxsize=4096)
def _match(text: str) -> tuple[Sentence, dict[str, str]] | None:
    for sentence in _ALL:
        match = sentence.pattern.fullmatch(text)
        if match is not None:
            return sentence, match.groupdict()
    return None


# --- The sentences, most specific first (the first that matches a text wins) ---------------------------------------
# Fixed sentences (no values) are matched too, so a stored one is translated like any other.

# A reason with when it was last verified (mca.status): first, so the reason inside is matched on its own.
VERIFIED = Sentence(gettext_noop("%(reason)s, verified %(when)s"))

# mca/gate.py
PENDING_PREPARING = Sentence(gettext_noop("Pending: preparing Microsoft's acceptance link for %(name)s"))
PENDING_UNTIL = Sentence(
    gettext_noop("Pending: waiting for %(name)s to accept at Microsoft (the link expires %(expires)s)")
)
PENDING = Sentence(gettext_noop("Pending: waiting for %(name)s to accept at Microsoft"))
SEND_A_NEW_ONE = Sentence(gettext_noop("%(expired)s: send a new one"))
NOTHING_NEEDS_IT = Sentence(gettext_noop("Nothing in this order needs the Microsoft Customer Agreement"))
NO_MICROSOFT_PRODUCT = Sentence(gettext_noop("Not needed: no Microsoft product in this order"))

# mca/state.py
LINK_EXPIRED_ON = Sentence(gettext_noop("The acceptance link sent to %(name)s expired on %(when)s"))
LINK_EXPIRED = Sentence(gettext_noop("The acceptance link sent to %(name)s expired"))
WAITING_UNTIL = Sentence(gettext_noop("Waiting for %(name)s to accept at Microsoft (the link expires %(expires)s)"))
WAITING = Sentence(gettext_noop("Waiting for %(name)s to accept at Microsoft"))
STALE_SHORT = Sentence(
    gettext_noop(
        "The only partner confirmation is from %(day)s, before the MCA refresh: the customer must accept the "
        "current agreement"
    )
)
NOT_CHECKED = Sentence(gettext_noop("Not checked with Partner Center yet"))
CLOUD_AGREEMENT = Sentence(gettext_noop("Microsoft Cloud Agreement accepted before the cut-over"))
NEW_CUSTOMER = Sentence(gettext_noop("New Microsoft customer: the MCA must be accepted before the first order"))

# An accepted customer per how it is known (mca.state, AcceptanceKind), with who confirmed when known.
ACCEPTED_BY_KIND = {
    "confirmed_here": (
        Sentence(gettext_noop("Confirmed here on %(day)s (%(by)s)")),
        Sentence(gettext_noop("Confirmed here on %(day)s")),
    ),
    "pc_attestation": (
        Sentence(gettext_noop("Partner confirmation reported by Partner Center on %(day)s (%(by)s)")),
        Sentence(gettext_noop("Partner confirmation reported by Partner Center on %(day)s")),
    ),
    "direct": (
        Sentence(gettext_noop("Accepted directly at Microsoft on %(day)s (%(by)s)")),
        Sentence(gettext_noop("Accepted directly at Microsoft on %(day)s")),
    ),
    "signatory": (
        Sentence(gettext_noop("Accepted at Microsoft by the signatory (enhanced attestation) on %(day)s (%(by)s)")),
        Sentence(gettext_noop("Accepted at Microsoft by the signatory (enhanced attestation) on %(day)s")),
    ),
}

# mca/status.py
NOT_ACCEPTED = Sentence(gettext_noop("Partner Center has no MCA acceptance for this customer"))
DIRECT_AT_MICROSOFT = Sentence(gettext_noop("Accepted directly at Microsoft"))
SIGNATORY_AT_MICROSOFT = Sentence(gettext_noop("Accepted at Microsoft by %(name)s on %(day)s"))
PARTNER_CENTER_ATTESTATION = Sentence(
    gettext_noop("Partner Center reports acceptance (partner confirmation of %(day)s)")
)
NEW_CUSTOMER_FIRST_MICROSOFT_ORDER = Sentence(
    gettext_noop("New Microsoft customer: the MCA must be accepted before the first Microsoft order")
)
PARTNER_CENTER_DOWN = Sentence(gettext_noop("Partner Center unreachable — please confirm the customer's acceptance"))
PARTNER_CENTER_SLOW = Sentence(
    gettext_noop("Partner Center did not answer in time — please confirm the customer's acceptance")
)
PARTNER_CENTER_THROTTLED = Sentence(
    gettext_noop("Partner Center is throttling requests — please confirm the customer's acceptance")
)
PARTNER_CENTER_BAD = Sentence(
    gettext_noop("Partner Center's answer could not be read — please confirm the customer's acceptance")
)
# Confirmed here ("Accepted on <day><by>", mca.status): matched, so the stored text is translated too.
CONFIRMED_FOR_CUSTOMER = Sentence(gettext_noop("Accepted on %(day)s on the customer's behalf by a partner (%(role)s)"))
CONFIRMED_BY = Sentence(gettext_noop("Accepted on %(day)s by %(name)s"))
CONFIRMED = Sentence(gettext_noop("Accepted on %(day)s"))
