"""Money from structured sources: a finite decimal with at most two places, or
nothing at all; never a value silently read as "no amount"."""
from __future__ import annotations

from decimal import Decimal

import pytest

from invoice_archive.formats import InvoiceFormatError, read_invoice
from invoice_archive.formats import normalize as norm
from tests.support.invoices import synthetic_xml


@pytest.mark.parametrize("text, value", [
    ("1060.00", Decimal("1060.00")), ("-4449.00", Decimal("-4449.00")), ("1060.000", Decimal("1060.000")),
    ("¥1,234.50", Decimal("1234.50")), ("9999999999999999.99", Decimal("9999999999999999.99")),
    ("***", None), ("免税", None), ("", None), (None, None),
])
def test_money_reads_amounts_and_placeholders(text, value):
    assert norm.money(text, "价税合计") == value


@pytest.mark.parametrize("text", ["NaN", "nan", "Infinity", "-inf", "1e309", "1E2", "1060.005", "0.001",
                                  "123456789012345678901234", "12345678901234567.00", "1" * 39])
def test_money_refuses_what_is_number_like_but_not_money(text):
    with pytest.raises(InvoiceFormatError) as exc:
        norm.money(text, "价税合计")
    assert exc.value.code == "amount_unreadable" and exc.value.http_status == 422
    assert "价税合计" in exc.value.message


@pytest.mark.parametrize("element", ["TotalTax-includedAmount", "TotalAmWithoutTax", "TotalTaxAm", "ComTaxAm"])
@pytest.mark.parametrize("bad", ["NaN", "1e309", "Infinity", "1060.005"])
def test_a_digital_invoice_with_an_unreadable_amount_is_refused(element, bad):
    data = synthetic_xml().decode("utf-8")
    start = data.index(f"<{element}>") + len(element) + 2
    end = data.index(f"</{element}>", start)
    with pytest.raises(InvoiceFormatError) as exc:
        read_invoice((data[:start] + bad + data[end:]).encode("utf-8"), filename="x.xml")
    assert exc.value.code == "amount_unreadable"
