"""The acceptance form (R5): one validator for the storefront, the BSS and the API."""

from __future__ import annotations

import json
from datetime import date
from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator
from django.utils import timezone
from phonenumber_field.formfields import PhoneNumberField

# Microsoft introduced the MCA to CSP on 2019-10-01: an earlier acceptance date cannot be right.
MCA_INTRODUCED = date(2019, 10, 1)
FORM_FIELDS = ("first_name", "last_name", "email", "phone", "date_agreed", "accepted")

# Letters (any script), spaces, apostrophes, hyphens and dots: what names are made of; never markup.
name_validator = RegexValidator(
    r"^[^\W\d_]+(?:[ .'’-][^\W\d_]*)*\.?$",
    "Use letters, spaces, apostrophes, hyphens and dots only.",
)

CUSTOMER_ACCEPT_LABEL = "I accept the Microsoft Customer Agreement on behalf of my company."
ATTESTATION_ACCEPT_LABEL = "I confirm that the customer has accepted the Microsoft Customer Agreement."


class AcceptanceForm(forms.Form):
    first_name = forms.CharField(label="First name", max_length=100, validators=[name_validator])
    last_name = forms.CharField(label="Last name", max_length=100, validators=[name_validator])
    email = forms.EmailField(label="Email", max_length=254)
    phone = PhoneNumberField(
        label="Phone number",
        help_text="With the country code, e.g. +1 206 555 0100.",
        error_messages={"invalid": "Enter a valid phone number, with the country code (e.g. +1 206 555 0100)."},
    )
    date_agreed = forms.DateField(label="Date of agreement", help_text="The day the customer accepted.")
    accepted = forms.BooleanField(label=ATTESTATION_ACCEPT_LABEL, required=True)

    def __init__(self, *args: Any, first_party: bool = False, country: str = "", **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.first_party = first_party
        accepted = self.fields["accepted"]
        accepted.label = CUSTOMER_ACCEPT_LABEL if first_party else ATTESTATION_ACCEPT_LABEL
        accepted.error_messages["required"] = (
            "Tick the box to accept the agreement."
            if first_party
            else "Tick the box to confirm that the customer has accepted the agreement."
        )
        # Numbers without a country code are read as the customer's country.
        self.fields["phone"].region = country or None
        self.fields["date_agreed"].initial = timezone.localdate

    def clean_date_agreed(self) -> date:
        value: date = self.cleaned_data["date_agreed"]
        if value > timezone.localdate():
            raise ValidationError("The date of agreement cannot be in the future.", code="future")
        if value < MCA_INTRODUCED:
            raise ValidationError(
                f"The date of agreement cannot be before {MCA_INTRODUCED:%d %B %Y}, when the MCA was introduced.",
                code="too_old",
            )
        return value

    def as_entered(self) -> str:
        """The submitted values exactly as typed, as canonical JSON text (for the log record, R8)."""
        entered = {}
        for name in FORM_FIELDS:
            value = self.data.get(name)
            if isinstance(value, (list, tuple)):
                value = value[-1] if value else None
            entered[name] = value if value is None or isinstance(value, (str, bool, int, float)) else str(value)
        return json.dumps(entered, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
