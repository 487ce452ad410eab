"""Template helpers: URLs in the current store, accessible form widgets, and the links each role can use."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django import template
from django.forms import BoundField
from django.http import HttpRequest
from django.urls import reverse
from django.utils.formats import number_format

from bss.choices import Role
from bss.models import Membership, Reseller
from storefront.stores import Store, home_store_for, resolve_store

register = template.Library()


@register.simple_tag(takes_context=True)
def store_url(context: template.Context, name: str, **kwargs: Any) -> str:
    store: Store = context.get("store") or Store()
    return store.url(name, **kwargs)


@register.filter
def amount(value: Any) -> str:
    """A money amount in the active language's format: two decimals and digit grouping (1,234.50; 1.234,50;
    1 234,50). Only amounts are grouped: ids, years and seat counts stay as they are."""
    if value in (None, ""):
        return ""
    return number_format(value, decimal_pos=2, use_l10n=True, force_grouping=True)


@register.filter
def accessible_widget(field: BoundField) -> str:
    """The field's widget, pointing at its help text and its errors (aria-describedby) and marked invalid."""
    attrs: dict[str, str] = {}
    described = []
    if field.help_text:
        described.append(f"{field.auto_id}_helptext")
    if field.errors:
        described.append(f"{field.auto_id}_errors")
        attrs["aria-invalid"] = "true"
    if described:
        attrs["aria-describedby"] = " ".join(described)
    return field.as_widget(attrs=attrs)


@register.filter
def is_checkbox(field: BoundField) -> bool:
    return getattr(field.field.widget, "input_type", "") == "checkbox"


@dataclass(frozen=True)
class Link:
    label: str
    url: str
    description: str


def _store_links(store: Store, prefix: str = "") -> list[Link]:
    return [
        Link(f"{prefix}{store.name}", store.url("catalog"), "catalog, cart and checkout"),
        Link("My subscriptions", store.url("subscriptions"), "change seat counts"),
        Link("My agreements", store.url("agreements"), "Microsoft Customer Agreement acceptances and links"),
    ]


def _api_links() -> list[Link]:
    return [
        Link("API documentation", reverse("api-docs"), "the REST API (Swagger UI)"),
        Link("API endpoints", reverse("api:root"), "the index of the REST API's endpoints"),
        Link("OpenAPI schema", reverse("api-schema"), "the API's machine-readable description (ReDoc: /api/redoc/)"),
    ]


@register.simple_tag(takes_context=True)
def role_links(context: template.Context) -> list[Link]:
    """The links the signed-in user can use (a customer never sees the BSS or the setup area)."""
    request: HttpRequest | None = context.get("request")
    user = getattr(request, "user", None)
    membership = Membership.of(user) if user is not None else None
    if user is None or not user.is_authenticated or (membership is None and not user.is_superuser):
        links = [Link("Storefront", reverse("storefront:catalog"), "catalog and checkout for customers and resellers")]
        links += [
            Link(f"{reseller.display_name} storefront", Store(reseller).url("catalog"), "white-label store")
            for reseller in Reseller.objects.filter(is_white_label=True)
        ]
        if user is None or not user.is_authenticated:
            links += [
                Link("BSS", reverse("bss:index"), "order execution and subscriptions (staff sign-in)"),
                Link("Setup area (admin)", reverse("admin:index"), "the acceptance log (staff sign-in)"),
                *_api_links(),
            ]
        return links
    role = membership.role if membership is not None else Role.ADMIN
    if role == Role.CUSTOMER:
        return _store_links(home_store_for(user))
    if role == Role.RESELLER:
        return [*_store_links(home_store_for(user)), *_api_links()]
    links = [
        Link("BSS", reverse("bss:index"), "order execution and subscriptions"),
        Link("Setup area (admin)", reverse("admin:index"), "the acceptance log, export and verification"),
    ]
    if role == Role.WHITE_LABEL_BSS:
        return [*links, *_store_links(home_store_for(user))]
    return [
        *links,
        Link("Storefront", reverse("storefront:catalog"), "catalog and checkout"),
        *[
            Link(f"{reseller.display_name} storefront", Store(reseller).url("catalog"), "white-label store")
            for reseller in Reseller.objects.filter(is_white_label=True)
        ],
        *_api_links(),
    ]


def store_of_request(context: Any) -> Store | None:
    """The white-label store an error page belongs to (by path or host), so it keeps the reseller's brand."""
    request: HttpRequest | None = context.get("request")
    if request is None:
        return None
    parts = request.path.strip("/").split("/")
    slug = parts[1] if len(parts) > 1 and parts[0] == "store" else None
    try:
        store = resolve_store(request, slug)
    except Exception:  # Http404: not a store's slug
        store = resolve_store(request, None)
    return store if store.is_white_label else None
