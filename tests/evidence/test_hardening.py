"""Bad input never reaches the permanent record unbounded: stored form values are bounded, over-long order
numbers and subscription references are field errors, names are NFC-normalised before validation."""

import json
import unicodedata

import pytest

from mca import gate
from mca.forms import MAX_ENTERED_LENGTH
from mca.models import AcceptanceRecord
from tests.mca.helpers import context, form_data

pytestmark = pytest.mark.django_db

MEGABYTE = "x" * (1024 * 1024)


def signatory(**overrides) -> dict:
    data = {
        "signatory_first_name": "Lena",
        "signatory_last_name": "Fischer",
        "signatory_email": "lena.fischer@example.com",
        "signatory_phone": "",
        "company_name": "Litware",
        "authority_confirmed": "on",
    }
    data.update(overrides)
    return data


@pytest.mark.parametrize("flow, field", [("legacy", "accepted"), ("enhanced", "authority_confirmed")])
def test_a_megabyte_value_is_kept_to_the_bound_and_never_written(settings, demo, demo_user, flow, field):
    settings.MCA_ATTESTATION_FLOW = flow
    data = form_data(accepted=MEGABYTE) if flow == "legacy" else signatory(authority_confirmed=MEGABYTE)
    form = gate.form_for(demo_user("bss"), demo["litware"], data)
    kept = json.loads(form.as_entered())[field]
    assert len(kept) <= MAX_ENTERED_LENGTH + 1 and kept.startswith("xxx")
    assert len(form.as_entered()) < 2 * MAX_ENTERED_LENGTH + 1000
    with pytest.raises(gate.AcceptanceInvalid) as refused:
        gate.submit_acceptance(actor=demo_user("bss"), account=demo["litware"], data=data, context=context())
    assert field in refused.value.error_dict
    assert AcceptanceRecord.objects.count() == 0


@pytest.mark.parametrize("flow", ["legacy", "enhanced"])
def test_a_megabyte_extra_value_is_bounded_in_the_record(settings, demo, demo_user, flow):
    """A valid submission whose free-text field arrives oversized keeps at most the bound (the phone is free text in
    neither flow, so the kept field is the company / the names — every kept value is bounded)."""
    settings.MCA_ATTESTATION_FLOW = flow
    data = form_data() if flow == "legacy" else signatory()
    data["unexpected_field"] = MEGABYTE  # not a form field: never kept
    outcome = gate.submit_acceptance(actor=demo_user("bss"), account=demo["litware"], data=data, context=context())
    entered = json.loads(outcome.record.form_data)
    assert "unexpected_field" not in entered
    assert all(len(str(value)) <= MAX_ENTERED_LENGTH + 1 for value in entered.values())


@pytest.mark.parametrize("flow", ["legacy", "enhanced"])
@pytest.mark.parametrize("name, limit", [("order_number", 20), ("subscription_ref", 64)])
def test_over_long_trigger_references_are_field_errors(settings, demo, demo_user, flow, name, limit):
    settings.MCA_ATTESTATION_FLOW = flow
    data = form_data() if flow == "legacy" else signatory()
    with pytest.raises(gate.AcceptanceInvalid) as refused:
        gate.submit_acceptance(
            actor=demo_user("bss"),
            account=demo["litware"],
            data=data,
            context=context(**{name: "9" * (limit + 1)}),
        )
    assert [error.message for error in refused.value.error_dict[name]] == [f"At most {limit} characters."]
    assert AcceptanceRecord.objects.count() == 0
    # At the limit it is written.
    outcome = gate.submit_acceptance(
        actor=demo_user("bss"), account=demo["litware"], data=data, context=context(**{name: "9" * limit})
    )
    assert getattr(outcome.record, name) == "9" * limit


def test_a_decomposed_name_is_normalised_in_the_enhanced_form(settings, demo, demo_user):
    settings.MCA_ATTESTATION_FLOW = "enhanced"
    decomposed = unicodedata.normalize("NFD", "José")
    assert decomposed != "José" and len(decomposed) == 5
    form = gate.form_for(demo_user("bss"), demo["litware"], signatory(signatory_first_name=decomposed))
    assert form.is_valid(), form.errors
    assert form.cleaned_data["signatory_first_name"] == "José"
    outcome = gate.submit_acceptance(
        actor=demo_user("bss"),
        account=demo["litware"],
        data=signatory(signatory_first_name=decomposed),
        context=context(),
    )
    assert outcome.record.first_name == "José" and len(outcome.record.first_name) == 4


def test_a_decomposed_name_is_normalised_in_the_legacy_form(settings, demo, demo_user):
    settings.MCA_ATTESTATION_FLOW = "legacy"
    decomposed = unicodedata.normalize("NFD", "José")
    outcome = gate.submit_acceptance(
        actor=demo_user("bss"), account=demo["litware"], data=form_data(first_name=decomposed), context=context()
    )
    assert outcome.record.first_name == "José"


# --- look-alike and non-Latin names (found by `make drill` bad_input) ---------------------------------------------


@pytest.mark.parametrize(
    "field, value, message",
    [
        ("first_name", "P\u0430ul", "mixes Cyrillic and Latin letters"),  # a Cyrillic "а"
        ("last_name", "\u0399\u03bfhn", "mixes Greek and Latin letters"),
        ("first_name", "\U0001d409\U0001d41a\U0001d427\U0001d41e", "styled or full-width form of “J”"),
        ("first_name", "\uff2a\uff41\uff4e\uff45", "styled or full-width form of “J”"),
        ("email", "jane@micr\u043esoft.example", "“micrоsoft” mixes Cyrillic and Latin letters"),
        ("first_name", "\u0301Jose", "Use letters"),  # a lone accent first
        ("first_name", "Z\u0336\u0337\u0338\u0339a", "Use letters"),  # "Zalgo": four marks on one letter
        ("last_name", "Smith \u2163", "Use letters"),  # a Roman numeral is not a letter
        ("last_name", "Smith\u00b2", "Use letters"),
    ],
)
def test_a_look_alike_name_or_domain_is_a_field_error_and_writes_nothing(
    settings, demo, demo_user, field, value, message
):
    settings.MCA_ATTESTATION_FLOW = "legacy"
    with pytest.raises(gate.AcceptanceInvalid) as refused:
        gate.submit_acceptance(
            actor=demo_user("bss"), account=demo["litware"], data=form_data(**{field: value}), context=context()
        )
    assert list(refused.value.error_dict) == [field]
    assert message in refused.value.error_dict[field][0].messages[0]
    assert AcceptanceRecord.objects.count() == 0


@pytest.mark.parametrize(
    "field, value",
    [
        ("signatory_first_name", "P\u0430ul"),
        ("signatory_email", "lena@f\u0456scher.example"),  # a Ukrainian "і"
        ("company_name", "C\u043entoso"),
    ],
)
def test_look_alikes_are_refused_in_the_enhanced_form_too(settings, demo, demo_user, field, value):
    settings.MCA_ATTESTATION_FLOW = "enhanced"
    form = gate.form_for(demo_user("bss"), demo["litware"], signatory(**{field: value}))
    assert not form.is_valid()
    assert "mixes Cyrillic and Latin letters" in form.errors[field][0]


@pytest.mark.parametrize(
    "field, value",
    [
        ("last_name", "\u0928\u0947\u0939\u093e"),  # Devanagari with vowel signs (combining marks)
        ("last_name", "\u0e2a\u0e21\u0e0a\u0e32\u0e22"),  # Thai
        ("last_name", "\u5c71\u7530\u305f\u308d\u3046"),  # Han and Hiragana in one word (Japanese)
        ("last_name", "\u0418\u0432\u0430\u043d Smith"),  # two words, one script each
        ("last_name", "O\u2019Brien-Nguy\u1ec5n"),
        ("email", "jane@b\u00fccher.example"),
        ("email", "jane@\u043f\u0440\u0438\u043c\u0435\u0440.\u0440\u0444"),  # a Cyrillic domain
    ],
)
def test_names_and_domains_in_one_script_each_are_recorded_as_typed(settings, demo, demo_user, field, value):
    settings.MCA_ATTESTATION_FLOW = "legacy"
    outcome = gate.submit_acceptance(
        actor=demo_user("bss"), account=demo["litware"], data=form_data(**{field: value}), context=context()
    )
    assert getattr(outcome.record, field) == value
