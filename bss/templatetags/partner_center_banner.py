"""The BSS banner on Partner Center token readiness (partner_center.readiness): read from the cache, never a token
call per page view; shown to BSS staff only (the BSS pages are theirs)."""

from __future__ import annotations

from typing import Any

from django import template

from bss.services.execution import is_bss_user
from partner_center.readiness import cached_readiness

register = template.Library()


@register.inclusion_tag("bss/_token_banner.html", takes_context=True)
def partner_center_banner(context: dict[str, Any]) -> dict[str, Any]:
    request = context.get("request")
    user = getattr(request, "user", None)
    if user is None or not is_bss_user(user):
        return {"show": False}
    readiness = cached_readiness()
    return {"show": True, "readiness": readiness}
