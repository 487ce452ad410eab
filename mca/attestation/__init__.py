"""Attestation flows: how Microsoft is told that a customer accepted the MCA (one module per flow).

`current_flow()` is the one chosen by MCA_ATTESTATION_FLOW (`enhanced`, Microsoft's current attestation, by
default; `legacy` for installations from before 2026-01-05). `flow_for_record()` is the flow a record was written
by, so records keep being delivered the way they were made after the setting changes. Nothing outside this
package branches on the flow.
"""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from mca.attestation.base import (
    AcceptanceInvalid,
    AttestationFlow,
    IdempotencyConflict,
    Outcome,
    OutcomeKind,
    SendOutcome,
)
from mca.attestation.enhanced import EnhancedFlow, cancel_link, record_link_sent, reissue_link
from mca.attestation.legacy import LegacyFlow
from mca.choices import RecordEvent
from mca.models import AcceptanceRecord

FLOWS: dict[str, AttestationFlow] = {flow.name: flow for flow in (EnhancedFlow(), LegacyFlow())}
DEFAULT_FLOW = EnhancedFlow.name


def current_flow() -> AttestationFlow:
    name = getattr(settings, "MCA_ATTESTATION_FLOW", DEFAULT_FLOW) or DEFAULT_FLOW
    try:
        return FLOWS[name]
    except KeyError:
        raise ImproperlyConfigured(f"MCA_ATTESTATION_FLOW must be one of {', '.join(FLOWS)}; got {name!r}") from None


def flow_for_record(record: AcceptanceRecord) -> AttestationFlow:
    return FLOWS[LegacyFlow.name if record.event == RecordEvent.LEGACY_CONFIRMATION else EnhancedFlow.name]


__all__ = [
    "FLOWS",
    "AcceptanceInvalid",
    "AttestationFlow",
    "IdempotencyConflict",
    "Outcome",
    "OutcomeKind",
    "SendOutcome",
    "cancel_link",
    "current_flow",
    "flow_for_record",
    "record_link_sent",
    "reissue_link",
]
