"""`{% mca_badge state %}`: one customer's MCA state as a badge, the same on every page (storefront, BSS, admin).

The state's word is the badge's text (never colour alone), with a symbol per state; the sentence and the next
action for the viewer are its tooltip and are read out by screen readers too."""

from __future__ import annotations

from django import template
from django.template.loader import render_to_string
from django.utils.safestring import SafeString

from mca.sentences import translate
from mca.state import CustomerMcaState

register = template.Library()

_SYMBOL = {
    "accepted": "✓",
    "pending": "…",
    "required": "!",
    "stale": "!",
    "expired": "⌛",
    "unknown": "?",
}


@register.simple_tag
def mca_badge(state: CustomerMcaState | None) -> SafeString:
    if state is None:
        return SafeString("")
    return SafeString(
        render_to_string(
            "mca/_badge.html",
            {
                "state": state,
                "symbol": _SYMBOL.get(str(state.code), ""),
                "tooltip": f"{translate(state.sentence)}. {state.next_action}",
            },
        ).strip()
    )


@register.filter
def mca_state_of(states: dict[int, CustomerMcaState] | None, account_id: int) -> CustomerMcaState | None:
    """`{% mca_badge states|mca_state_of:account.pk %}` for lists (states from `gate.states_for`)."""
    return (states or {}).get(account_id)


@register.filter
def mca_sentence(text: str) -> str:
    """`{{ decision.reason|mca_sentence }}`: a reason sentence of the gate's (stored in English) in the active
    language (`mca.sentences.translate`); any other text as it is."""
    return translate(text)
