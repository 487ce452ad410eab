"""The template a person is shown (`mca.templates.shown_template`): asked of Partner Center through the client's
cache, kept by the process for SHOWN_MEMO_SECONDS (every confirmation shows one), and the last known one stored
here when Partner Center cannot answer."""

import time

from mca import templates


def test_a_template_shown_is_shown_again_for_a_few_seconds_without_asking(pc_simulator, demo, monkeypatch):
    account = demo["litware"]
    first = templates.shown_template(account, deadline=time.monotonic() + 5)
    assert first.fresh and first.template_id
    pc_simulator.set_fault(mode="down")
    pc_simulator.reset_calls()
    from django.core.cache import cache

    cache.clear()  # not even the client's cache: the process's memo answers
    assert templates.shown_template(account, deadline=time.monotonic() + 5) == first
    assert not any(pc_simulator.calls().values())
    # Past the memo's time it asks again: Partner Center is down, so the last known copy, not fresh.
    monkeypatch.setattr(templates, "SHOWN_MEMO_SECONDS", 0.0)
    templates.forget_stored_templates()
    again = templates.shown_template(account, deadline=time.monotonic() + 2)
    assert (again.template_id, again.fresh) == (first.template_id, False)
