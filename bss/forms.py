"""Forms of the BSS pages (the MCA form itself comes from the gate: `gate.form_for`)."""

from django import forms

from bss.choices import Channel, OrderStatus
from bss.models import Product
from bss.services.orders import MAX_SEATS
from bss.services.readiness import NOT_COUNTED
from mca import gate


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
        self.fields["state"].choices = [
            ("", "Any state"),
            *gate.McaState.choices,
            (NOT_COUNTED, "Not counted yet"),
        ]
        self.fields["reseller"].choices = [("", "Any owner"), *((str(owner["id"]), owner["name"]) for owner in owners)]
