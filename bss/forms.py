"""Forms of the BSS pages (the MCA form itself comes from the gate: `gate.form_for`)."""

from django import forms

from bss.choices import Channel, OrderStatus
from bss.models import Product, Reseller
from bss.services.orders import MAX_SEATS
from bss.services.readiness import STATE_CHOICES


class OrderFilterForm(forms.Form):
    q = forms.CharField(label="Order number or customer", required=False, max_length=100)
    status = forms.ChoiceField(label="Status", required=False, choices=[("", "Any status"), *OrderStatus.choices])
    channel = forms.ChoiceField(label="Channel", required=False, choices=[("", "Any channel"), *Channel.choices])


class AccountFilterForm(forms.Form):
    q = forms.CharField(label="Customer", required=False, max_length=100)


class NewSubscriptionForm(forms.Form):
    product = forms.ModelChoiceField(label="Product", queryset=Product.objects.filter(is_active=True))
    seats = forms.IntegerField(label="Seats", min_value=1, max_value=MAX_SEATS)


class SeatsForm(forms.Form):
    seats = forms.IntegerField(label="New seat count", min_value=1, max_value=MAX_SEATS)


class DirectLinkForm(forms.Form):
    email = forms.EmailField(label="Send the link to (the customer's administrator)")


class ReadinessFilterForm(forms.Form):
    """The readiness page's filters. The owner choices are the owners within the user's scope only: another
    reseller's id is refused ("not one of the available choices"), never silently widened."""

    q = forms.CharField(label="Customer or domain", required=False, max_length=100)
    state = forms.ChoiceField(label="MCA state", required=False)
    reseller = forms.ChoiceField(label="Owner", required=False)
    at_risk = forms.BooleanField(label="Only customers with a refusal predicted", required=False)

    def __init__(self, *args: object, owners: list[dict], **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        self.fields["state"].choices = [("", "Any state"), *STATE_CHOICES]
        self.fields["reseller"].choices = [("", "Any owner"), *((str(owner["id"]), owner["name"]) for owner in owners)]


CAMPAIGN_STATE_CHOICES = [("required", "Required"), ("stale", "Renewal required (stale)"), ("expired", "Expired")]


class CampaignForm(forms.Form):
    """Start (or extend) an acceptance campaign: the accounts by reseller and state, or a hand-picked list."""

    name = forms.CharField(label="Campaign name", max_length=200)
    reseller = forms.ModelChoiceField(
        label="Reseller's customers", queryset=Reseller.objects.none(), required=False, empty_label="Any reseller"
    )
    direct_only = forms.BooleanField(label="Only the CSP's direct customers", required=False)
    accounts = forms.CharField(
        label="Or hand-picked customers (account numbers, comma-separated)", required=False, max_length=20000
    )
    states = forms.MultipleChoiceField(
        label="Customers whose MCA state is",
        choices=CAMPAIGN_STATE_CHOICES,
        initial=["required", "stale", "expired"],
        widget=forms.CheckboxSelectMultiple,
    )
    reminder_days = forms.IntegerField(label="Reminder after (days)", min_value=1, max_value=60, required=False)
    authority_confirmed = forms.BooleanField(
        label="I confirm that each signatory named (the customer's contact, or the signatory last named for it) is "
        "authorised to accept the Microsoft Customer Agreement for that customer.",
        error_messages={"required": "Tick the box to confirm the signatories' authority."},
    )

    def __init__(self, *args, resellers=None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["reseller"].queryset = resellers if resellers is not None else Reseller.objects.none()

    def clean_accounts(self) -> list[int] | None:
        raw = (self.cleaned_data.get("accounts") or "").replace("\n", ",")
        parts = [part.strip() for part in raw.split(",") if part.strip()]
        if not parts:
            return None
        if not all(part.isdigit() for part in parts):
            raise forms.ValidationError("Account numbers are whole numbers, separated by commas.", code="invalid")
        return [int(part) for part in parts]


class BounceForm(forms.Form):
    email = forms.EmailField(label="Address that bounced")
    reason = forms.CharField(label="What the mail system said", max_length=300, required=False)
