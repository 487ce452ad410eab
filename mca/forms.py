"""What every attestation flow's form shares: strict fields, names that are names, data kept as entered.

The flows' own forms live beside their flow (`mca.attestation.legacy`, `mca.attestation.enhanced`); this module
holds what both need, so the storefront, the BSS and the API validate the same way.
"""

from __future__ import annotations

import functools
import json
import unicodedata
from datetime import date
from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.core.validators import ProhibitNullCharactersValidator
from fontTools import unicodedata as unicode_scripts
from phonenumber_field.formfields import PhoneNumberField

NAME_SEPARATORS = " .'’-"
# Accents and vowel signs written on one letter: Vietnamese stacks two, Devanagari a vowel sign and a nasal mark;
# more is "Zalgo" text, drawn over its neighbours.
MAX_MARKS_PER_LETTER = 3


def _is_name(text: str) -> bool:
    """Letters of any script (Unicode category L), each with at most a few combining marks (category M: the
    accents and vowel signs of names in Devanagari, Thai, Arabic...), and spaces, apostrophes, hyphens and dots
    between them; it starts with a letter. No digits, numerals, symbols, controls or markup."""
    if not text or not unicodedata.category(text[0]).startswith("L"):
        return False
    marks, previous = 0, text[0]
    for character in text[1:]:
        category = unicodedata.category(character)
        if category.startswith("L"):
            marks = 0
        elif category.startswith("M"):
            marks += 1
            if marks > MAX_MARKS_PER_LETTER or previous in NAME_SEPARATORS:
                return False
        elif character in NAME_SEPARATORS:
            marks = 0
        else:
            return False
        previous = character
    return True


def name_validator(value: str) -> None:
    """What names are made of: letters (any script) with their accents, spaces, apostrophes, hyphens and dots;
    never markup, digits or invisible characters."""
    if not _is_name(value):
        raise ValidationError("Use letters, spaces, apostrophes, hyphens and dots only.", code="invalid")


# What the permanent record keeps of any one submitted value: a form field is never this long, an attack may be.
MAX_ENTERED_LENGTH = 500


# Scripts written together in one word (UTS #39's "highly restrictive" profile): Han with the Japanese kana, with
# Korean Hangul, or with Bopomofo. A character of the Common or Inherited script (spaces, apostrophes, combining
# accents) goes with any script.
_WRITTEN_WITH_HAN = {"Hani": {"Hanb", "Jpan", "Kore"}, "Hira": {"Jpan"}, "Kana": {"Jpan"}, "Hang": {"Kore"}}
_ANY_SCRIPT = frozenset({"Zyyy", "Zinh", "Zzzz"})


# Both per character, cached: the answers never change and names repeat their letters (the script lookups were
# about 4 % of a legacy confirmation's client CPU, issue 20).
@functools.lru_cache(maxsize=4096)
def _scripts(character: str) -> frozenset[str] | None:
    """The scripts `character` may be written in (None: any), with the writing systems that combine scripts."""
    scripts = set(unicode_scripts.script_extension(character))
    if scripts & _ANY_SCRIPT:
        return None
    for script in list(scripts):
        scripts |= _WRITTEN_WITH_HAN.get(script, set())
    if "Bopo" in scripts:
        scripts.add("Hanb")
    return frozenset(scripts)


@functools.lru_cache(maxsize=4096)
def _script_name(character: str) -> str:
    return unicode_scripts.script_name(unicode_scripts.script(character))


def look_alike_problem(text: str, *, what: str = "word") -> str | None:
    """Why `text` could pass for something it is not, or None. Two tricks are refused (UTS #39):

    - styled or full-width forms of letters ("𝐉𝐚𝐧𝐞", "Ｊａｎｅ"): NFKC folds them to plain letters;
    - one word mixing scripts whose letters look alike ("Pаul" with a Cyrillic "а"): each word (or e-mail domain
      label) must be written in one script. Words in different scripts ("Иван Smith") are fine.
    """
    for character in text:
        if unicodedata.category(character).startswith("L") and unicodedata.normalize("NFKC", character) != character:
            plain = unicodedata.normalize("NFKC", character)
            return f"Use plain letters: “{character}” is a styled or full-width form of “{plain}”."
    for word in text.replace("-", " ").split():
        common: frozenset[str] | None = None
        seen: dict[str, str] = {}
        for character in word:
            scripts = _scripts(character)
            if scripts is None:
                continue
            seen.setdefault(_script_name(character), character)
            common = scripts if common is None else common & scripts
            if not common:
                names = " and ".join(sorted(seen))
                return f"“{word}” mixes {names} letters, which can look alike: write each {what} in one script."
    return None


class NameField(forms.CharField):
    """A person's name, NFC-normalised first so a decomposed "José" is the same name as a composed one; letters
    only, never look-alikes of other letters (`look_alike_problem`)."""

    default_validators = [name_validator]

    def to_python(self, value: Any) -> str:
        text = super().to_python(value)
        return unicodedata.normalize("NFC", text)

    def validate(self, value: str) -> None:
        super().validate(value)
        problem = look_alike_problem(value) if value else None
        if problem:
            raise ValidationError(problem, code="look_alike")


class PhoneField(PhoneNumberField):
    """phonenumber_field's form field, with the number checked once: Django's null-character check formats the
    parsed number to test it, which checks it again (a tenth of the legacy form's time, issue 20). The typed text is
    tested for null characters instead; the messages and their order are the same."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.validators = [v for v in self.validators if not isinstance(v, ProhibitNullCharactersValidator)]

    def run_validators(self, value: Any) -> None:
        errors: list[ValidationError] = []
        try:
            super().run_validators(value)
        except ValidationError as error:
            errors.extend(error.error_list)
        if "\x00" in str(getattr(value, "raw_input", "") or ""):
            null = ProhibitNullCharactersValidator()
            errors.append(ValidationError(null.message, code=null.code))
        if errors:
            raise ValidationError(errors)


class EmailAddressField(forms.EmailField):
    """An e-mail address whose domain cannot pass for another: an internationalised domain is fine, a label mixing
    look-alike scripts ("micrоsoft" with a Cyrillic "о") or styled letters is not (the local part is ASCII already:
    Django's validator)."""

    def validate(self, value: str) -> None:
        super().validate(value)
        domain = value.rpartition("@")[2] if value else ""
        problem = look_alike_problem(domain.replace(".", " "), what="part of the domain") if domain else None
        if problem:
            raise ValidationError(problem, code="look_alike")


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
