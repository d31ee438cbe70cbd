"""Invoice bytes for tests: synthetic ones made by the project's own code, and
the real samples read from ../shared (skipped where absent)."""
from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from invoice_archive.synth.xml import SynthInvoice, build_xml_invoice
from tests.support.app import BUYER

SAMPLES = Path(__file__).resolve().parents[2].parent / "shared" / "samples" / "invoices"


def synthetic_xml(number: str = "24992000000000000001", **kw: object) -> bytes:
    kw.setdefault("buyer_name", BUYER["name"])
    kw.setdefault("buyer_tax_id", BUYER["tax_id"])
    kw.setdefault("issued", dt.datetime(2024, 7, 15, 10, 30))
    return build_xml_invoice(SynthInvoice(number=number, **kw))  # type: ignore[arg-type]


def sample_buyer(relpath: str, fonds_code: str = "Z001") -> dict[str, str]:
    """An organisation named as a real sample's buyer (read at run time, never copied)."""
    from invoice_archive.formats import read_invoice

    doc = read_invoice(sample(relpath))
    return {"name": doc.buyer.name, "tax_id": doc.buyer.tax_id, "fonds_code": fonds_code}


def sample(relpath: str) -> bytes:
    path = SAMPLES / relpath
    if not path.is_file():
        pytest.skip(f"real sample {relpath} not found under {SAMPLES} (../shared is absent)")
    return path.read_bytes()
