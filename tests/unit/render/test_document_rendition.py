"""The standard invoice layout for 数电票 XML (and any InvoiceDocument), SVG and PDF."""
from __future__ import annotations

import io
import re
from decimal import Decimal

import pytest
from pypdf import PdfReader

from invoice_archive.formats import read_invoice
from invoice_archive.render import (amount_in_words, date_cn, pdf_text, render_document_pdf,
                                    render_document_svg, render_invoice_pdf, rendition_text_positions)
from invoice_archive.synth.xml import SynthInvoice, SynthLine, build_xml_invoice
from tests.support.invoices import SAMPLES

XML_SAMPLES = sorted((SAMPLES / "xml").glob("*.xml")) if (SAMPLES / "xml").is_dir() else []


def _flat(s: str) -> str:
    return re.sub(r"\s+", "", s)


def key_fields(doc) -> list[str]:
    values = [doc.number, date_cn(doc.issue_date), doc.buyer.name, doc.buyer.tax_id, doc.seller.name,
              doc.seller.tax_id, f"{doc.amount_excl_tax:.2f}", f"{doc.tax:.2f}", f"{doc.total:.2f}",
              doc.total_in_words or amount_in_words(doc.total), doc.remarks, doc.clerk]
    for line in doc.lines:
        values += [line.name, f"{line.amount:.2f}", f"{line.tax:.2f}"]
    return [_flat(v) for v in values if v]


def _check(doc):
    svg = render_document_svg(doc)
    svg_text = _flat("".join(t for t, *_ in rendition_text_positions(svg)))
    pdf = render_document_pdf(doc)
    assert len(PdfReader(io.BytesIO(pdf)).pages) == 1
    text = _flat(pdf_text(pdf))
    for value in key_fields(doc):
        assert value in svg_text, f"{value} missing from the SVG"
        assert value in text, f"{value} missing from the PDF"
    return svg, text


@pytest.mark.skipif(not XML_SAMPLES, reason=f"sample XML invoices not found under {SAMPLES}")
@pytest.mark.parametrize("path", XML_SAMPLES, ids=lambda p: p.name)
def test_xml_sample_rendition_holds_every_key_field(path):
    doc = read_invoice(path.read_bytes())
    svg, text = _check(doc)
    assert "电子发票" in text and "价税合计" in text and "开票人" in text
    if doc.is_red:
        assert "红字" in text and doc.original_number in text


def test_synthetic_many_lines_grow_the_page():
    lines = tuple(SynthLine(name=f"*测试服务*第{i}项很长很长很长很长很长很长很长的项目名称", amount=Decimal("100.00"))
                  for i in range(25))
    doc = read_invoice(build_xml_invoice(SynthInvoice(lines=lines)))
    svg, _text = _check(doc)
    height = float(re.search(r'viewBox="0 0 [\d.]+ ([\d.]+)"', svg).group(1))
    assert height > 140


def test_render_invoice_pdf_dispatches_on_format():
    xml = build_xml_invoice(SynthInvoice(number="24992000000000000099"))
    assert "24992000000000000099" in pdf_text(render_invoice_pdf(xml))
    from invoice_archive.synth.ofd import build_ofd_invoice

    ofd = build_ofd_invoice(number="00000077")
    assert "00000077" in pdf_text(render_invoice_pdf(ofd))


def test_amount_in_words():
    assert amount_in_words(Decimal("526.00")) == "伍佰贰拾陆圆整"
    assert amount_in_words(Decimal("-4449.00")).startswith("（负数）")
