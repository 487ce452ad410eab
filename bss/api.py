from django.db.models import QuerySet
from rest_framework import generics

from bss.models import Account
from bss.serializers import AccountSerializer


class AccountList(generics.ListAPIView):
    """The customer accounts the caller may act for."""

    serializer_class = AccountSerializer

    def get_queryset(self) -> QuerySet[Account]:
        return Account.objects.visible_to(self.request.user).select_related("reseller")
