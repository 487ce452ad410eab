"""The API's representations and its strict input (JSON types are checked here; the rules are the services')."""

from __future__ import annotations

from typing import Any

from django import forms
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from bss.choices import Channel, Operation
from bss.models import Account, Order, OrderLine, Product, Subscription
from bss.services.orders import MAX_SEATS
from mca import gate
from mca.models import AcceptanceDelivery, AcceptanceRecord

# --- strict JSON types --------------------------------------------------------------------------------------


class StrictCharField(serializers.CharField):
    """Text only: a number, a boolean, a list or an object is a field error (DRF's CharField would take 5 as "5")."""

    default_error_messages = {"invalid": "Must be a string."}

    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


@extend_schema_field(OpenApiTypes.DATE)
class StrictDateString(StrictCharField):
    """A date as text ("2026-11-26"); the form decides whether it is a valid, allowed date."""

    default_error_messages = {"invalid": "Must be a date as a string, e.g. 2026-11-26."}


class StrictBooleanField(serializers.BooleanField):
    """JSON `true` or `false` only: "no", "yes", 1 or "on" are field errors, never consent."""

    default_error_messages = {"invalid": "Must be true or false."}

    def to_internal_value(self, data: Any) -> bool:
        if not isinstance(data, bool):
            self.fail("invalid")
        return data


class StrictIntegerField(serializers.IntegerField):
    """A JSON integer only: "5", 5.0 or true are field errors."""

    default_error_messages = {"invalid": "Must be an integer."}

    def to_internal_value(self, data: Any) -> int:
        if isinstance(data, bool) or not isinstance(data, int):
            self.fail("invalid")
        return super().to_internal_value(data)


class StrictSerializer(serializers.Serializer):
    """Unknown fields are errors (a misspelt "acepted" must not be silently dropped)."""

    def to_internal_value(self, data: Any) -> Any:
        if isinstance(data, dict):
            unknown = sorted(set(data) - set(self.fields))
            if unknown:
                raise serializers.ValidationError({name: ["Unknown field."] for name in unknown})
        return super().to_internal_value(data)


_form_serializers: dict[tuple[str, tuple[Any, ...]], type[serializers.Serializer]] = {}


def form_serializer(form: forms.Form) -> type[serializers.Serializer]:
    """A type-only serializer for the gate's acceptance form, built from its fields (so the flow's form stays the
    one definition of the fields and their rules): a checkbox is a JSON boolean, a date a date string, anything
    else a string. The values are then validated by the form itself (`gate.submit_acceptance`)."""
    prefilled = {
        name for name, field in form.fields.items() if form.get_initial_for_field(field, name) not in (None, "")
    }
    signature = tuple(
        (name, type(field).__name__, field.required, name in prefilled, getattr(field, "max_length", None))
        for name, field in form.fields.items()
    )
    cache_key = (type(form).__name__, signature)
    if cache_key not in _form_serializers:
        fields: dict[str, serializers.Field] = {}
        for name, field in form.fields.items():
            # A prefilled field (the company name, today's date) may be left out: the form's value is taken.
            common = {"required": field.required and name not in prefilled, "help_text": str(field.label or "")}
            if isinstance(field.widget, forms.CheckboxInput):
                fields[name] = StrictBooleanField(**common)
            elif isinstance(field, forms.DateField):
                fields[name] = StrictDateString(**common, allow_blank=not field.required)
            else:
                fields[name] = StrictCharField(
                    **common,
                    allow_blank=not field.required,
                    trim_whitespace=False,
                    max_length=getattr(field, "max_length", None),
                    allow_null=not field.required,
                )
        name = "".join(part.capitalize() for part in type(form).__name__.replace("Form", "").split("_"))
        doc = "The acceptance form's fields (the configured attestation flow's form, worded for the caller's role)."
        _form_serializers[cache_key] = type(f"{name}Acceptance", (StrictSerializer,), {**fields, "__doc__": doc})
    return _form_serializers[cache_key]


# --- representations -----------------------------------------------------------------------------------------


class McaStateSerializer(serializers.Serializer):
    """One customer's MCA state, the same as the badge on every page."""

    code = serializers.ChoiceField(choices=gate.McaState.choices)
    label = serializers.CharField()
    sentence = serializers.CharField()
    next_action = serializers.CharField(help_text="What to do next, for your role.")
    accepted_how = serializers.CharField(allow_null=True)
    accepted_at = serializers.DateTimeField(allow_null=True)
    verified_at = serializers.DateTimeField(allow_null=True, help_text="When Partner Center last confirmed it.")
    link_expires_at = serializers.DateTimeField(allow_null=True)
    signatory_name = serializers.CharField(allow_null=True)
    signatory_email = serializers.CharField(allow_null=True, help_text="Masked, e.g. n****@contoso.com.")


class AccountMcaStateSerializer(serializers.Serializer):
    mca_state = McaStateSerializer()


class AccountSerializer(serializers.ModelSerializer):
    reseller = serializers.SlugRelatedField(slug_field="slug", read_only=True, allow_null=True)
    country = serializers.CharField(source="country.code", read_only=True)
    is_synced = serializers.BooleanField(read_only=True)
    mca_state = serializers.SerializerMethodField(
        help_text="The MCA state known here (lists never ask Partner Center; GET .../mca/ does)."
    )

    class Meta:
        model = Account
        fields = ["id", "name", "reseller", "country", "language", "partner_center_tenant_id", "is_synced", "mca_state"]

    @extend_schema_field(McaStateSerializer(allow_null=True))
    def get_mca_state(self, account: Account) -> dict[str, Any] | None:
        state = self.context.get("mca_states", {}).get(account.pk)
        return state.as_dict() if state is not None else None


class ProductSerializer(serializers.ModelSerializer):
    is_microsoft = serializers.BooleanField(read_only=True)

    class Meta:
        model = Product
        fields = ["id", "name", "sku", "vendor", "is_microsoft", "billing_term", "price", "currency"]


class DeliverySerializer(serializers.ModelSerializer):
    class Meta:
        model = AcceptanceDelivery
        fields = ["state", "attempts", "next_attempt_at", "last_error", "last_status_code", "sent_at"]


class AcceptanceRecordSerializer(serializers.ModelSerializer):
    delivery = DeliverySerializer(read_only=True, allow_null=True, help_text="Telling Partner Center (R10).")

    class Meta:
        model = AcceptanceRecord
        fields = [
            "id",
            "sequence",
            "created_at",
            "event",
            "account",
            "account_name",
            "channel",
            "actor_display_name",
            "actor_role",
            "actor_organisation",
            "first_name",
            "last_name",
            "email",
            "phone",
            "date_agreed",
            "signatory_company",
            "template_id",
            "document_link",
            "language",
            "country",
            "evidence_class",
            "log_sufficient_as_proof",
            "order_number",
            "subscription_ref",
            "operation",
            "link_expires_at",
            "entry_hash",
            "delivery",
        ]


class PendingAttestationSerializer(serializers.Serializer):
    state = serializers.CharField()
    signatory_name = serializers.CharField()
    signatory_email = serializers.EmailField()
    link = serializers.URLField(allow_null=True, help_text="Microsoft's acceptance page (null while it is created).")
    expires_at = serializers.DateTimeField(allow_null=True)
    last_error = serializers.CharField(allow_null=True)


class DecisionSerializer(serializers.Serializer):
    """The gate's decision (`Decision.as_dict()`): whether acceptance is needed for a new purchase, and why."""

    needed = serializers.BooleanField()
    reason_code = serializers.CharField()
    reason = serializers.CharField()
    flow = serializers.ChoiceField(choices=["enhanced", "legacy"])
    template_id = serializers.CharField(allow_null=True)
    template_version_rank = serializers.IntegerField(allow_null=True)
    document_link = serializers.URLField(allow_null=True)
    document_country = serializers.CharField(allow_null=True)
    document_language = serializers.CharField(allow_null=True)
    pending_attestation = PendingAttestationSerializer(allow_null=True)


class FormFieldSerializer(serializers.Serializer):
    name = serializers.CharField()
    label = serializers.CharField()
    type = serializers.ChoiceField(choices=["string", "boolean", "date", "email"])
    required = serializers.BooleanField()
    initial = serializers.CharField(allow_null=True)


class AccountMcaSerializer(DecisionSerializer):
    mca_state = McaStateSerializer()
    document_download_url = serializers.URLField(allow_null=True)
    may_confirm = serializers.BooleanField(help_text="Whether you may submit the acceptance for this customer (R6).")
    acceptance_url = serializers.URLField(help_text="POST the form here.")
    resend_link_url = serializers.URLField(allow_null=True, help_text="Present when the signatory's link expired.")
    form = FormFieldSerializer(many=True, help_text="The fields to POST to acceptance_url, for your role and flow.")


class AttestationOutcomeSerializer(serializers.Serializer):
    state = serializers.CharField()
    signatory_name = serializers.CharField()
    signatory_email = serializers.EmailField()
    link = serializers.URLField(allow_null=True)
    expires_at = serializers.DateTimeField(allow_null=True)


class AcceptanceOutcomeSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=["accepted", "pending_signatory"])
    accepted = serializers.BooleanField()
    record = AcceptanceRecordSerializer()
    attestation = AttestationOutcomeSerializer(allow_null=True)


class OrderLineSerializer(serializers.ModelSerializer):
    class Meta:
        model = OrderLine
        fields = [
            "id",
            "product",
            "operation",
            "quantity",
            "subscription",
            "unit_price",
            "previous_seats",
            "priced_quantity",
            "total",
        ]
        read_only_fields = ["previous_seats"]

    priced_quantity = serializers.IntegerField(
        read_only=True, help_text="The seats the line is priced for: a seat change's added seats (5 -> 7: 2)."
    )
    total = serializers.DecimalField(
        max_digits=12, decimal_places=2, read_only=True, help_text="unit_price x priced_quantity."
    )


class OrderSerializer(serializers.ModelSerializer):
    lines = OrderLineSerializer(many=True, read_only=True)

    class Meta:
        model = Order
        fields = ["id", "number", "account", "channel", "status", "created_at", "status_changed_at", "lines"]


class OrderResultSerializer(OrderSerializer):
    mca_acceptance = AcceptanceOutcomeSerializer(
        allow_null=True, read_only=True, help_text="The acceptance submitted inline with this request, if any."
    )

    class Meta(OrderSerializer.Meta):
        fields = [*OrderSerializer.Meta.fields, "mca_acceptance"]


class SubscriptionSerializer(serializers.ModelSerializer):
    class Meta:
        model = Subscription
        fields = ["id", "account", "product", "seats", "partner_center_subscription_id", "is_active", "created_at"]


class TokenSerializer(serializers.Serializer):
    token = serializers.CharField(help_text="Send as `Authorization: Token <token>`.")
    created = serializers.DateTimeField()


# --- input -----------------------------------------------------------------------------------------------------


class LineInputSerializer(StrictSerializer):
    product = StrictIntegerField(min_value=1)
    quantity = StrictIntegerField(min_value=1, max_value=MAX_SEATS, help_text="Seats.")
    operation = serializers.ChoiceField(choices=Operation.choices, default=Operation.NEW_PURCHASE)
    subscription = StrictIntegerField(
        min_value=1, required=False, allow_null=True, help_text="The subscription a change applies to."
    )

    def to_internal_value(self, data: Any) -> Any:
        if isinstance(data, dict) and "operation" in data and not isinstance(data["operation"], str):
            raise serializers.ValidationError({"operation": ["Must be a string."]})
        return super().to_internal_value(data)


class OrderInputSerializer(StrictSerializer):
    account = StrictIntegerField(min_value=1)
    lines = LineInputSerializer(many=True, allow_empty=False, max_length=100)
    mca_acceptance = serializers.DictField(
        required=False,
        allow_null=True,
        help_text="The acceptance form (see GET /accounts/{id}/mca/ `form`), submitted first when it is needed.",
    )


class ExecuteInputSerializer(StrictSerializer):
    mca_acceptance = serializers.DictField(required=False, allow_null=True)


class SeatsInputSerializer(StrictSerializer):
    seats = StrictIntegerField(min_value=1, max_value=MAX_SEATS)
    mca_acceptance = serializers.DictField(required=False, allow_null=True)


class LogFilterSerializer(StrictSerializer):
    account = serializers.IntegerField(required=False, min_value=1)
    channel = serializers.ChoiceField(choices=Channel.choices, required=False)
    created_after = serializers.DateTimeField(required=False)
    created_before = serializers.DateTimeField(required=False)
    cursor = serializers.CharField(required=False)
    page_size = serializers.IntegerField(required=False, min_value=1, max_value=200)
