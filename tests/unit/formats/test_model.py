"""The document model, normalisers and small reader behaviours (no samples needed)."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from invoice_archive.formats import (
    KINDS,
    InvoiceDocument,
    LineItem,
    Party,
    read_invoice,
)
from invoice_archive.formats import normalize as norm


@pytest.mark.parametrize(
    ("raw", "want"),
    [
        ("526.00", Decimal("526.00")),
        ("¥526.00", Decimal("526.00")),
        (" ￥ 1,234.50 ", Decimal("1234.50")),
        ("１２３.４５", Decimal("123.45")),
        ("-4449.00", Decimal("-4449.00")),
        ("57", Decimal(57)),
        ("***", None),
        ("", None),
        ("1e5", None),
        ("NaN", None),
        (None, None),
    ],
)
def test_amounts(raw: str | None, want: Decimal | None) -> None:
    assert norm.amount(raw) == want


def test_dates_identifiers_rates() -> None:
    assert norm.date("2020年07月23日") == dt.date(2020, 7, 23)
    assert norm.date("2024-06-12 09:30:03") == dt.date(2024, 6, 12)
    assert norm.date("20200805") == dt.date(2020, 8, 5)
    assert norm.date("2020年02月30日") is None
    assert norm.ident("16197 83356 74145 07415") == "16197833567414507415"
    assert norm.ident("９１１１０１０８ab") == "91110108AB"
    assert norm.rate("6%") == Decimal("0.06")
    assert norm.rate("13.00%") == Decimal("0.13")
    assert norm.rate("0.09") == Decimal("0.09")
    assert norm.rate("免税") is None


def test_kinds_from_titles_and_codes() -> None:
    assert norm.kind_from_title("电子发票（增值税专用发票）") == "digital_special"
    assert norm.kind_from_title("电子发票（普通发票）") == "digital_normal"
    assert norm.kind_from_title("浙江增值税电子普通发票") == "vat_e_normal"
    assert norm.kind_from_title("贵州增值税电子专用发票") == "vat_e_special"
    assert norm.kind_from_title("电子发票（铁路电子客票）") == "railway_ticket"
    assert norm.kind_from_code("033002000211") == "vat_e_normal"
    assert norm.kind_from_code("052002100113") == "vat_e_special"
    assert norm.kind_from_code("0330020002") is None


def _doc(**kw) -> InvoiceDocument:
    return InvoiceDocument(source_format="ofd", **kw)


def test_business_keys_per_family() -> None:
    assert _doc(kind="vat_e_normal", code="033002000211", number="83089647").business_key == "033002000211-83089647"
    assert _doc(kind="digital_special", number="24112000000048542163").business_key == "24112000000048542163"
    assert _doc(kind="railway_ticket", number="22119130671000000049").business_key == "22119130671000000049"
    assert _doc(kind="bank_receipt", code="C1", number="2020", check_code="C1x").business_key == "BKER-C1x"
    assert _doc(kind="bank_receipt", code="C1", number="2020").business_key == "BKER-C1-2020"
    statement = _doc(kind="bank_statement", code="C1", extra={"account": "62", "period": "202108"})
    assert statement.business_key == "BKRS-C1-62-202108"
    assert set(KINDS) >= {
        "vat_e_normal", "vat_e_special", "digital_normal", "digital_special",
        "railway_ticket", "railway_ticket_refund", "bank_receipt", "bank_statement",
    }


def test_unknown_kind_is_a_programming_error() -> None:
    with pytest.raises(ValueError):
        _doc(kind="air_ticket")


def test_to_dict_is_json_able() -> None:
    doc = _doc(
        kind="digital_normal",
        number="24112000000048542163",
        issue_date=dt.date(2024, 5, 28),
        seller=Party(name="卖方", tax_id="X"),
        total=Decimal("1.00"),
        lines=(LineItem(name="*服务*费", amount=Decimal("1.00"), tax_rate=Decimal("0.06")),),
    )
    data = doc.to_dict()
    assert data["issue_date"] == "2024-05-28" and data["total"] == "1.00"
    assert data["seller_name"] == "卖方" and data["buyer_name"] is None
    assert data["line_count"] == 1 and data["lines"][0]["tax_rate"] == "0.06"
    assert data["red"] is False


XML = (
    '<?xml version="1.0" encoding="UTF-8"?><EInvoice><Header><EIid>24310000000000000011</EIid>'
    "<InherentLabel><GeneralOrSpecialVAT><LabelCode>02</LabelCode></GeneralOrSpecialVAT></InherentLabel></Header>"
    "<EInvoiceData><BasicInformation><TotalAmWithoutTax>１００.００</TotalAmWithoutTax><TotalTaxAm>¥6.00</TotalTaxAm>"
    "<TotalTax-includedAmount>106.00</TotalTax-includedAmount><RequestTime>2024-03-15 10:00:00</RequestTime>"
    "</BasicInformation></EInvoiceData></EInvoice>"
)


def test_xml_with_blank_lines_before_the_declaration_and_full_width_digits() -> None:
    doc = read_invoice(b"\n\n" + XML.encode("utf-8"), filename="x.xml")
    assert doc.kind == "digital_normal" and doc.business_key == "24310000000000000011"
    assert doc.amount_excl_tax == Decimal("100.00") and doc.tax == Decimal("6.00")
    assert doc.issue_date == dt.date(2024, 3, 15)
    assert doc.warnings == ()


def test_xml_arithmetic_disagreement_is_a_warning() -> None:
    doc = read_invoice(XML.replace("106.00", "107.00").encode(), filename="x.xml")
    assert any("金额不平" in w for w in doc.warnings)
