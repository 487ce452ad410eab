"""The gate's reason sentences: English as made and stored, translated at display (mca.sentences)."""

from __future__ import annotations

import pytest
from django.utils import translation

from mca import sentences
from mca.sentences import translate


def test_a_composed_reason_is_translated_part_by_part_and_keeps_its_values():
    text = sentences.VERIFIED(
        reason=sentences.CONFIRMED_BY(day="2026-11-02", name="Nancy Davolio"), when="2026-11-03 10:00"
    )
    assert text == "Accepted on 2026-11-02 by Nancy Davolio, verified 2026-11-03 10:00"
    with translation.override("de"):
        assert translate(text) == "Am 2026-11-02 von Nancy Davolio angenommen, geprüft 2026-11-03 10:00"
    with translation.override("fr"):
        assert translate(text) == "Accepté le 2026-11-02 par Nancy Davolio, vérifié le 2026-11-03 10:00"
    with translation.override("en"):
        assert translate(text) == text


@pytest.mark.parametrize("sentence", sentences._ALL, ids=lambda s: s.msgid[:40])
def test_every_sentence_is_found_from_its_english_and_translated(sentence):
    values = {name: f"<{name}>" for name in sentences._PLACEHOLDER.findall(sentence.msgid)}
    english = sentence(**values)
    for language in ("de", "fr"):
        with translation.override(language):
            shown = translate(english)
        assert shown != english and all(value in shown for value in values.values()), (language, shown)


def test_a_text_no_sentence_makes_is_shown_as_it_is():
    with translation.override("de"):
        assert translate("Microsoft says: error 600061") == "Microsoft says: error 600061"
        assert translate("") == ""
