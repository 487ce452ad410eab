from rest_framework import serializers

from bss.models import Account


class AccountSerializer(serializers.ModelSerializer):
    reseller = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    country = serializers.CharField(source="country.code", read_only=True)
    is_synced = serializers.BooleanField(read_only=True)

    class Meta:
        model = Account
        fields = ["id", "name", "reseller", "country", "language", "partner_center_tenant_id", "is_synced"]
