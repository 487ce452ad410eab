"""What every attestation flow's form shares: strict fields, names that are names, data kept as entered.

The flows' own forms live beside their flow (`mca.attestation.legacy`, `mca.attestation.enhanced`); this module
holds what both need, so the storefront, the BSS and the API validate the same way.
"""

from __future__ import annotations

import json
import unicodedata
from datetime import date
from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator

# Letters (any script), spaces, apostrophes, hyphens and dots: what names are made of; never markup.
name_validator = RegexValidator(
    r"^[^\W\d_]+(?:[ .'’-][^\W\d_]*)*\.?$",
    "Use letters, spaces, apostrophes, hyphens and dots only.",
)
# What the permanent record keeps of any one submitted value: a form field is never this long, an attack may be.
MAX_ENTERED_LENGTH = 500


class NameField(forms.CharField):
    """A person's name, NFC-normalised first so a decomposed "José" is the same name as a composed one."""

    default_validators = [name_validator]

    def to_python(self, value: Any) -> str:
        text = super().to_python(value)
        return unicodedata.normalize("NFC", text)


class StrictDateField(forms.DateField):
    """A date given as text ("2026-11-26"): a number, a list or an object is a field error, never an exception."""

    def to_python(self, value: Any) -> date | None:
        if value is not None and not isinstance(value, (str, date)):
            raise ValidationError("Enter a date as text, e.g. 2026-11-26.", code="invalid")
        return super().to_python(value)


class CheckboxValue(forms.CheckboxInput):
    """Hands the posted value through untouched, so `AcceptBox` decides what counts as ticked."""

    def value_from_datadict(self, data: Any, files: Any, name: str) -> Any:
        return data.get(name)


class AcceptBox(forms.Field):
    """The explicit "accepted" box: only a ticked checkbox ("on") or JSON `true` counts.

    Django's BooleanField reads any non-empty text but "false" and "0" as ticked, so "no" or "off" posted by a
    script would count as consent; here nothing but the two real signals does.
    """

    widget = CheckboxValue

    def __init__(self, *, required_message: str = "Tick the box.", **kwargs: Any) -> None:
        super().__init__(required=True, **kwargs)
        self.error_messages["required"] = required_message

    def to_python(self, value: Any) -> bool:
        return value is True or value == "on"

    def validate(self, value: bool) -> None:
        if value is not True:
            raise ValidationError(self.error_messages["required"], code="required")


class EnteredFormMixin:
    """Keeps the submitted values exactly as typed, for the log record (R8)."""

    FIELDS: tuple[str, ...] = ()
    data: Any

    def as_entered(self) -> str:
        """The submitted values as canonical JSON text, each bounded so an oversized value cannot bloat the
        permanent record; a value of another type is kept as its text."""
        entered: dict[str, Any] = {}
        for name in self.FIELDS:
            value = self.data.get(name)
            if isinstance(value, (list, tuple)):
                value = value[-1] if value else None
            if value is not None and not isinstance(value, (str, bool, int, float)):
                value = str(value)
            if isinstance(value, str) and len(value) > MAX_ENTERED_LENGTH:
                value = value[:MAX_ENTERED_LENGTH] + "…"
            entered[name] = value
        return json.dumps(entered, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
