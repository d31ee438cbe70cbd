"""OFD invoices in the forms real producers write them (docs/formats.md).

Every fixture is the project's own synthetic invoice, reshaped the way real
files are: the attachment named without ``<FileLoc>``, no index at all, a tag
tree that leaves out the tax or the lines, nothing but the printed page.
Signed variants are signed by the test PKI after reshaping.
"""
from __future__ import annotations

import re
from decimal import Decimal

import pytest

from invoice_archive.formats import InvoiceFormatError, read_invoice
from invoice_archive.formats.page_layout import read_page, text_boxes
from invoice_archive.synth.ofd import SynthInvoice, SynthLine, build_ofd_invoice, write_zip
from invoice_archive.verification import verify_ofd
from tests.support import testca

from ..verification.helpers import members_of

ATTACHMENTS = "Doc_0/Attachs/Attachments.xml"
ORIGINAL = "Doc_0/Attachs/original_invoice.xml"
TAG = "Doc_0/Tags/CustomTag.xml"
INVOICE = SynthInvoice(
    number="00004242", code="044001900111",
    lines=[SynthLine(name="*办公用品*签字笔（合成）", unit="支", quantity=Decimal("12"),
                     price=Decimal("3.50"), tax_rate=Decimal("0.13")),
           SynthLine(name="*信息技术服务*软件测试服务（合成）", price=Decimal("1000.00"))],
)


def _members() -> dict[str, bytes]:
    return members_of(build_ofd_invoice(INVOICE))


def _no_metadata(m: dict[str, bytes]) -> None:
    m["OFD.xml"] = re.sub(rb"<ofd:CustomDatas>.*?</ofd:CustomDatas>", b"", m["OFD.xml"], flags=re.S)


def _no_attachments(m: dict[str, bytes]) -> None:
    m["Doc_0/Document.xml"] = m["Doc_0/Document.xml"].replace(
        b"<ofd:Attachments>Attachs/Attachments.xml</ofd:Attachments>", b"")
    del m[ATTACHMENTS], m[ORIGINAL]


def _no_tags(m: dict[str, bytes]) -> None:
    m["Doc_0/Document.xml"] = m["Doc_0/Document.xml"].replace(
        b"<ofd:CustomTags>Tags/CustomTags.xml</ofd:CustomTags>", b"")
    del m["Doc_0/Tags/CustomTags.xml"], m[TAG]


def _zip(m: dict[str, bytes]) -> bytes:
    return write_zip(m)


# --- attachments -------------------------------------------------------------------

@pytest.mark.parametrize("form", ["text", "attribute", "root_relative", "no_index"])
def test_the_attachment_is_found_in_every_form_producers_use(form):
    m = _members()
    _no_tags(m)
    _no_metadata(m)
    index = m[ATTACHMENTS]
    element = b"<ofd:FileLoc>original_invoice.xml</ofd:FileLoc>"
    if form == "text":            # the path as the text of <Attachment>
        m[ATTACHMENTS] = index.replace(element, b"original_invoice.xml")
    elif form == "attribute":
        m[ATTACHMENTS] = index.replace(b'Visible="false">', b'Visible="false" FileLoc="original_invoice.xml">'
                                       ).replace(element, b"")
    elif form == "root_relative":  # relative to the document folder, not the index's
        m[ATTACHMENTS] = index.replace(element, b"<ofd:FileLoc>Attachs/original_invoice.xml</ofd:FileLoc>")
    else:                          # Document.xml names no index; the file sits in Attachs/
        m["Doc_0/Document.xml"] = m["Doc_0/Document.xml"].replace(
            b"<ofd:Attachments>Attachs/Attachments.xml</ofd:Attachments>", b"")
        del m[ATTACHMENTS]
    doc = read_invoice(_zip(m))
    assert doc.number == INVOICE.number and doc.total == INVOICE.total
    assert doc.provenance["number"] == "ofd:original_invoice.xml"
    assert doc.confidence == "high"
    assert len(doc.lines) == 2


def test_a_validly_signed_invoice_with_its_attachment_as_text_is_read_and_valid():
    pki = testca.build_pki()
    m = _members()
    _no_tags(m)
    _no_metadata(m)
    m[ATTACHMENTS] = m[ATTACHMENTS].replace(b"<ofd:FileLoc>original_invoice.xml</ofd:FileLoc>",
                                            b"original_invoice.xml")
    signed = testca.sign_ofd(_zip(m), pki.signer, testca.SealSpec(pki.seal_maker))
    assert read_invoice(signed).number == INVOICE.number
    assert verify_ofd(members_of(signed)).verdict == "valid"


def test_an_attachment_listed_but_absent_is_a_warning_not_a_crash():
    m = _members()
    m[ATTACHMENTS] = m[ATTACHMENTS].replace(b"original_invoice.xml</ofd:FileLoc>", b"gone.xml</ofd:FileLoc>")
    doc = read_invoice(_zip(m))
    assert doc.number == INVOICE.number                     # from the tag tree
    assert any("gone.xml" in w for w in doc.warnings)


# --- the printed page ----------------------------------------------------------------

def _page_only() -> bytes:
    m = _members()
    _no_tags(m)
    _no_attachments(m)
    _no_metadata(m)
    return _zip(m)


def test_a_page_only_invoice_is_read_from_its_printed_layout():
    doc = read_invoice(_page_only())
    assert doc.kind == "vat_e_normal"
    assert (doc.code, doc.number, doc.issue_date, doc.check_code) == (
        INVOICE.code, INVOICE.number, INVOICE.issue_date, INVOICE.check_code)
    assert (doc.amount_excl_tax, doc.tax, doc.total) == (INVOICE.amount_excl_tax, INVOICE.tax, INVOICE.total)
    assert (doc.seller.tax_id, doc.buyer.tax_id) == (INVOICE.seller_tax_id, INVOICE.buyer_tax_id)
    assert (doc.seller.name, doc.buyer.name) == (INVOICE.seller_name, INVOICE.buyer_name)
    assert doc.machine_number == INVOICE.machine_no
    assert (doc.clerk, doc.payee, doc.checker) == (INVOICE.clerk, INVOICE.payee, INVOICE.checker)
    assert [(ln.name, ln.quantity, ln.unit_price, ln.amount, ln.tax_rate, ln.tax) for ln in doc.lines] == [
        (ln.name, ln.quantity, ln.price, ln.amount, ln.tax_rate, ln.tax) for ln in INVOICE.lines]
    assert set(doc.provenance.values()) == {"ofd:page"}
    assert doc.confidence == "low"
    assert {"number", "total", "lines"} <= set(doc.layout_fields)
    assert any("置信度较低" in w for w in doc.warnings)
    data = doc.to_dict()
    assert data["confidence"] == "low" and "tax" in data["layout_fields"]


def test_a_signed_page_only_invoice_reads_and_verifies():
    pki = testca.build_pki()
    signed = testca.sign_ofd(_page_only(), pki.signer, testca.SealSpec(pki.seal_maker))
    assert read_invoice(signed).number == INVOICE.number
    assert verify_ofd(members_of(signed)).verdict == "valid"


def test_a_page_that_is_not_an_invoice_form_stays_not_an_invoice():
    m = members_of(_page_only())
    page = "Doc_0/Pages/Page_0/Content.xml"
    m[page] = m[page].replace(INVOICE.kind_title.encode(), "合成法院裁定书".encode())
    with pytest.raises(InvoiceFormatError) as info:
        read_invoice(_zip(m))
    assert info.value.code == "not_an_invoice"


def test_the_tax_printed_only_on_the_page_is_read_from_it():
    m = _members()
    _no_attachments(m)
    _no_metadata(m)
    m[TAG] = re.sub(rb"<fp:TaxTotalAmount>.*?</fp:TaxTotalAmount>", b"", m[TAG])
    doc = read_invoice(_zip(m))
    assert doc.tax == INVOICE.tax
    assert doc.provenance["tax"] == "ofd:page"
    assert doc.provenance["total"] == "ofd:tags"
    assert doc.confidence == "low"
    assert not any("不一致" in w for w in doc.warnings)


def test_lines_only_on_the_page_are_counted():
    m = _members()
    _no_attachments(m)
    m[TAG] = re.sub(rb"<fp:GoodsInfos>.*?</fp:GoodsInfos>", b"", m[TAG], flags=re.S)
    doc = read_invoice(_zip(m))
    assert len(doc.lines) == 2
    assert doc.provenance["lines"] == "ofd:page"
    assert doc.provenance["number"] == "ofd:tags"


def test_a_page_whose_number_disagrees_with_the_record_is_not_used():
    m = _members()
    _no_attachments(m)
    m[TAG] = re.sub(rb"<fp:TaxTotalAmount>.*?</fp:TaxTotalAmount>", b"", m[TAG])
    page = "Doc_0/Pages/Page_0/Content.xml"
    m[page] = m[page].replace(f">{INVOICE.number}<".encode(), b">99999999<")
    doc = read_invoice(_zip(m))
    assert doc.tax is not None and doc.provenance["tax"] == "ofd:custom_datas"  # metadata still has it
    assert "ofd:page" not in doc.provenance.values()


def test_the_layout_reader_needs_number_and_date_in_their_places():
    boxes = text_boxes(members_of(build_ofd_invoice(INVOICE))["Doc_0/Pages/Page_0/Content.xml"], "page")
    assert read_page(boxes).fields["number"] == INVOICE.number
    assert read_page([b for b in boxes if b.text != INVOICE.number]) is None
    assert read_page([]) is None


def test_inspect_shows_the_low_confidence(tmp_path):
    import argparse
    import io

    from invoice_archive.cli import inspect as inspect_cli

    path = tmp_path / "page-only.ofd"
    path.write_bytes(_page_only())
    out, err = io.StringIO(), io.StringIO()
    args = argparse.Namespace(files=[str(path)], json=False, thorough=False, lines=False)
    assert inspect_cli.run(args, out, err) == 0
    assert "置信度       低（部分字段按票面版式读取：" in out.getvalue()
