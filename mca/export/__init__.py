"""Getting acceptance records out, by concern: `csv` (the rows the admin's and the evidence export share),
`gathering` (one customer's evidence, R14, and the folder export), `pack` (one zip a third party verifies with
`verify.py` alone) and `pdf` (the pack's summary for a person)."""

from mca.export.csv import CSV_COLUMNS, CSV_HEADER, csv_cell, csv_lines, csv_rows, csv_text
from mca.export.gathering import (
    Evidence,
    RecordCheck,
    check_record,
    customer_accounts,
    export_evidence,
    gather_evidence,
)
from mca.export.pack import chain_links, export_evidence_pack
from mca.export.pdf import summary_pdf

__all__ = [
    "CSV_COLUMNS",
    "CSV_HEADER",
    "Evidence",
    "RecordCheck",
    "chain_links",
    "check_record",
    "csv_cell",
    "csv_lines",
    "csv_rows",
    "csv_text",
    "customer_accounts",
    "export_evidence",
    "export_evidence_pack",
    "gather_evidence",
    "summary_pdf",
]
