from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from bss.models import Account, Order


@login_required
def index(request: HttpRequest) -> HttpResponse:
    if not request.user.is_staff:
        raise PermissionDenied("The BSS is for CSP and white-label staff.")
    accounts = Account.objects.visible_to(request.user)
    orders = Order.objects.filter(account__in=accounts).select_related("account")[:50]
    return render(request, "bss/index.html", {"orders": orders, "account_count": accounts.count()})
