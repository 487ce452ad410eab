"""The pack's human-readable summary as a PDF (fpdf2)."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

from mca.export.gathering import Evidence, _delivery_json, _how_known

# A font with every script's letters for the PDF (Debian's fonts-dejavu-core); Helvetica (Latin-1) otherwise.
PDF_FONTS = (
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/dejavu/DejaVuSans.ttf",
    "/usr/local/share/fonts/DejaVuSans.ttf",
)


def _pdf_text(text: str, unicode_font: bool) -> str:
    if unicode_font:
        return text
    return text.encode("latin-1", "replace").decode("latin-1")


def summary_pdf(evidence: Evidence, proof: dict[str, Any]) -> bytes:
    """A human-readable summary of the pack (fpdf2): the customer, each record with its names, the chain, the
    checkpoints and how to verify."""
    from fpdf import FPDF

    pdf = FPDF(format="A4")
    pdf.set_title(f"MCA acceptance evidence: {evidence.account.name}")
    pdf.set_creator("mca-acceptance")
    pdf.set_creation_date(evidence.now)
    font = next((path for path in PDF_FONTS if Path(path).is_file()), None)
    if font is not None:
        pdf.add_font("Body", fname=font)
        family = "Body"
    else:
        family = "Helvetica"
    pdf.set_auto_page_break(auto=True, margin=15)
    pdf.add_page()

    def line(text: str, size: int = 10, gap: float = 1.5) -> None:
        pdf.set_font(family, size=size)
        pdf.multi_cell(0, size * 0.5, _pdf_text(text, font is not None), new_x="LMARGIN", new_y="NEXT")
        pdf.ln(gap)

    account = evidence.account
    line(f"MCA acceptance evidence: {account.name}", 16, 3)
    line(f"Exported {evidence.now:%Y-%m-%d %H:%M:%S} UTC. Account {account.name} (id {account.pk}).")
    line(f"Belongs to: {account.owner_name}.")
    line(f"Partner Center tenant: {account.partner_center_tenant_id or 'none yet (not synced)'}")
    line(f"Acceptance known now: {_how_known(account)}", gap=4)
    line(f"Records ({len(evidence.records)})", 13, 2)
    for record, check in zip(evidence.records, evidence.checks, strict=True):
        delivery = _delivery_json(record)
        line(f"#{record.sequence} {record.get_event_display()} — {record.created_at:%Y-%m-%d %H:%M:%S} UTC", 11, 1)
        line(
            f"Signatory / person named: {record.first_name} {record.last_name} <{record.email}>"
            + (f", {record.signatory_company}" if record.signatory_company else "")
            + f". By: {record.confirmer}, {record.actor_organisation or 'no organisation'}. Channel: "
            f"{record.get_channel_display()}. Evidence: {record.get_evidence_class_display()}"
            f"{' (the log alone is proof)' if record.log_sufficient_as_proof else ''}. Order: "
            f"{record.order_number or '-'}. Template {record.template_id or '-'} ({record.language}, "
            f"{record.country}). Delivery to Partner Center: {delivery.get('state_display', 'none')}. "
            f"Hash check: {'intact' if check.ok else 'NOT intact: ' + check.problem}. Entry hash "
            f"{record.entry_hash}.",
            9,
            3,
        )
    chain = evidence.chain
    line("Chain and checkpoints", 13, 2)
    line(
        f"Whole log: {'intact' if chain.ok else 'NOT intact'}, {chain.checked} record(s) verified, "
        f"{chain.checkpoints_checked} signed checkpoint(s) checked"
        + (f"; first break: {chain.first_break}" if chain.first_break else "")
        + "."
    )
    for segment in proof["segments"]:
        line(
            f"Record #{segment['from_sequence']} is linked through {len(segment['links'])} record(s) to the signed "
            f"checkpoint at #{segment['to_sequence']} ({segment['checkpoint_file']}).",
            9,
        )
    for note in proof["notes"]:
        line(note, 9)
    line("How to verify", 13, 2)
    line(
        "Unzip the pack and run `python3 verify.py --key-url https://<the CSP's site>/.well-known/mca-log/` (or "
        "--public-key BASE64) in its folder (Python 3.11 or newer, nothing else). It checks the signed manifest (the "
        "customer, its complete list of records, every file's hash), each record's bytes against its hashes, the "
        "links up to the signed checkpoints and their Ed25519 signatures, and every readable file against the "
        "hashed bytes. Without a key obtained from the CSP (not from the pack) it fails."
    )
    line("Public key(s) that signed this pack (Ed25519, base64):", 9)
    for key, key_id in _keys_with_ids(proof):
        line(f"{key} ({key_id})", 9)
    return bytes(pdf.output())


def _keys_with_ids(proof: dict[str, Any]) -> list[tuple[str, str]]:
    """Each full public key (base64) of the pack with its short id."""
    from mca.checkpoints import key_id_for

    return [(key, key_id_for(base64.b64decode(key))) for key in proof["public_keys"]]
