"""Which store a request is in: the CSP's (`/store/`) or a white-label reseller's (`/store/<slug>/`, or its own
host when `Reseller.storefront_host` is set). A store decides the brand shown, the products offered and the
customer accounts that may be ordered for in it; account scoping itself stays `Account.objects.visible_to`.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db.models import Q, QuerySet
from django.http import Http404, HttpRequest
from django.urls import reverse

from bss.choices import Channel, Role
from bss.models import Account, CloudServiceProvider, Membership, Product, Reseller

DEFAULT_COLOUR = "#0f6cbd"


@dataclass(frozen=True)
class Store:
    """One storefront. `reseller` is None for the CSP's own store."""

    reseller: Reseller | None = None
    by_host: bool = False  # served on the reseller's own host: its URLs carry no slug

    @property
    def key(self) -> str:
        return self.reseller.slug if self.reseller else "csp"

    @property
    def is_white_label(self) -> bool:
        return self.reseller is not None

    @property
    def name(self) -> str:
        if self.reseller is not None:
            return self.reseller.display_name
        provider = CloudServiceProvider.current()
        return f"{provider.name if provider else 'Cloud'} storefront"

    @property
    def colour(self) -> str:
        return (self.reseller.brand_colour if self.reseller else "") or DEFAULT_COLOUR

    def url(self, name: str, **kwargs: object) -> str:
        """A storefront URL in this store (with the reseller's slug unless it is served on its own host)."""
        if self.reseller is not None and not self.by_host:
            kwargs["reseller_slug"] = self.reseller.slug
        return reverse(f"storefront:{name}", kwargs=kwargs)

    @property
    def url_catalog(self) -> str:
        return self.url("catalog")

    def products(self) -> QuerySet[Product]:
        """What this store sells (the CSP's active catalog; a reseller sells what the CSP offers)."""
        return Product.objects.filter(is_active=True).order_by("vendor", "name")

    def accounts_for(self, user: AbstractBaseUser | AnonymousUser) -> QuerySet[Account]:
        """The accounts `user` may order for in this store: those it may see (`visible_to`), that belong here (a
        white-label store: its reseller's customers; the CSP's store: everyone else's)."""
        visible = Account.objects.visible_to(user)
        if self.reseller is not None:
            return visible.filter(reseller=self.reseller)
        return visible.filter(Q(reseller__isnull=True) | Q(reseller__is_white_label=False))

    def channel_for(self, user: AbstractBaseUser | AnonymousUser) -> Channel:
        """Storefront for a customer buying for itself in the CSP's store; reseller storefront otherwise."""
        membership = Membership.of(user)
        if self.reseller is None and membership is not None and membership.role == Role.CUSTOMER:
            return Channel.STOREFRONT
        return Channel.RESELLER_STOREFRONT


def _host_name(request: HttpRequest) -> str:
    try:
        return request.get_host().rsplit(":", 1)[0].lower()
    except Exception:  # DisallowedHost: no store of its own
        return ""


def resolve_store(request: HttpRequest, reseller_slug: str | None) -> Store:
    """The store of this request; 404 for an unknown slug or a reseller without its own storefront."""
    if reseller_slug:
        reseller = Reseller.objects.filter(slug=reseller_slug, is_white_label=True).first()
        if reseller is None:
            raise Http404("No such store.")
        return Store(reseller)
    host = _host_name(request)
    if host:
        reseller = Reseller.objects.filter(storefront_host__iexact=host, is_white_label=True).first()
        if reseller is not None:
            return Store(reseller, by_host=True)
    return Store()


def home_store_for(user: AbstractBaseUser | AnonymousUser) -> Store | None:
    """The store a customer user belongs in (its account's white-label reseller's, or the CSP's)."""
    membership = Membership.of(user)
    if membership is None:
        return None
    if membership.role == Role.CUSTOMER:
        reseller = membership.account.reseller
        return Store(reseller) if reseller is not None and reseller.is_white_label else Store()
    if membership.role in (Role.RESELLER, Role.WHITE_LABEL_BSS):
        reseller = membership.reseller
        return Store(reseller) if reseller.is_white_label else Store()
    return Store()
