"""The storefront's own forms (the MCA form is the gate's: `gate.form_for`)."""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _
from django_countries import countries
from django_countries.fields import LazyTypedChoiceField

from bss.models import Product, Subscription
from bss.services.orders import MAX_SEATS
from mca import gate

LANGUAGES = [
    ("en-US", "English (United States)"),
    ("en-GB", "English (United Kingdom)"),
    ("de-DE", "German"),
    ("fr-FR", "French"),
    ("nl-NL", "Dutch"),
    ("es-ES", "Spanish"),
    ("it-IT", "Italian"),
]


class SeatsField(forms.IntegerField):
    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("label", "Seats")
        super().__init__(min_value=1, max_value=MAX_SEATS, **kwargs)


class AddToCartForm(forms.Form):
    product = forms.ModelChoiceField(queryset=Product.objects.none(), widget=forms.HiddenInput)
    quantity = SeatsField(initial=1)

    def __init__(self, *args: Any, products: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["product"].queryset = products


class CartLineForm(forms.Form):
    product = forms.IntegerField(widget=forms.HiddenInput)
    quantity = SeatsField(required=False)


class ChooseAccountForm(forms.Form):
    account = forms.ModelChoiceField(queryset=None, label=_("Customer"), empty_label=None, widget=forms.RadioSelect)

    def __init__(self, *args: Any, accounts: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["account"].queryset = accounts


class NewCustomerForm(forms.Form):
    name = forms.CharField(label=_("Company name"), max_length=200)
    country = LazyTypedChoiceField(label=_("Country"), choices=countries, initial="US")
    language = forms.ChoiceField(label=_("Language"), choices=LANGUAGES, initial="en-US")
    idempotency_key = forms.CharField(widget=forms.HiddenInput, required=False, max_length=100)

    def clean_name(self) -> str:
        value = self.cleaned_data["name"].strip()
        if not value:
            raise forms.ValidationError("Enter the company's name.", code="required")
        problem = gate.look_alike_problem(value)
        if problem:
            raise forms.ValidationError(problem, code="look_alike")
        return value


class SeatChangeForm(forms.Form):
    subscription = forms.IntegerField(widget=forms.HiddenInput)
    seats = SeatsField(label=_("New seat count"))

    def __init__(self, *args: Any, subscription: Subscription | None = None, **kwargs: Any) -> None:
        if subscription is not None:
            kwargs.setdefault("auto_id", f"id_sub{subscription.pk}_%s")  # one form per row: unique ids
        super().__init__(*args, **kwargs)
        self.subscription = subscription
        if subscription is not None:
            self.fields["subscription"].initial = subscription.pk
            self.fields["seats"].initial = subscription.seats

    def clean_seats(self) -> int:
        seats = self.cleaned_data["seats"]
        if self.subscription is not None and seats == self.subscription.seats:
            raise forms.ValidationError(
                f"The subscription has {seats} seats already: enter a different number.", code="unchanged"
            )
        return seats
