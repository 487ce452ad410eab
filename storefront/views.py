from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render

from bss.models import Product, Reseller


def catalog(request: HttpRequest, reseller_slug: str | None = None) -> HttpResponse:
    reseller = get_object_or_404(Reseller, slug=reseller_slug, is_white_label=True) if reseller_slug else None
    products = Product.objects.filter(is_active=True).order_by("vendor", "name")
    return render(request, "storefront/catalog.html", {"reseller": reseller, "products": products})
