"""The synthetic OFD builder produces packages shaped like real invoices."""
from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal

import pytest

from invoice_archive.synth.ofd import SynthInvoice, SynthLine, build_ofd_invoice
from invoice_archive.verification._xml import parse_xml

from .helpers import members_of


def test_layout_and_tag_tree_points_at_text_objects():
    m = members_of(build_ofd_invoice())
    for name in ("OFD.xml", "Doc_0/Document.xml", "Doc_0/Pages/Page_0/Content.xml",
                 "Doc_0/Tags/CustomTags.xml", "Doc_0/Tags/CustomTag.xml",
                 "Doc_0/Attachs/Attachments.xml", "Doc_0/Attachs/original_invoice.xml"):
        parse_xml(m[name])                     # well-formed
    page = parse_xml(m["Doc_0/Pages/Page_0/Content.xml"])
    texts = {el.attr("ID"): el.find("TextCode").text for el in page.iter("TextObject")}
    tags = parse_xml(m["Doc_0/Tags/CustomTag.xml"])
    refs = [(r.attr("PageRef"), r.text) for r in tags.iter("ObjectRef")]
    assert refs and all(page_ref == "1" and obj in texts for page_ref, obj in refs)
    number_ref = tags.find("InvoiceNo").find("ObjectRef").text
    assert texts[number_ref] == SynthInvoice().number
    assert b"http://www.edrm.org.cn/schema/e-invoice/2019" in m["Doc_0/Attachs/original_invoice.xml"]
    custom = {c.attr("Name"): c.text for c in parse_xml(m["OFD.xml"]).iter("CustomData")}
    assert custom["发票号码"] == SynthInvoice().number


def test_parameters_dict_dataclass_and_overrides():
    @dataclass
    class Fields:
        number: str = "00000777"
        buyer_tax_id: str = "91440300SYNTH0003C"

    a = build_ofd_invoice(Fields())
    b = build_ofd_invoice({"number": "00000777", "buyer_tax_id": "91440300SYNTH0003C"})
    c = build_ofd_invoice(number="00000777", buyer_tax_id="91440300SYNTH0003C")
    assert a == b == c                                       # deterministic
    assert b"91440300SYNTH0003C" in members_of(a)["Doc_0/Attachs/original_invoice.xml"]
    with pytest.raises(TypeError):
        build_ofd_invoice(no_such_field=1)


def test_totals_are_consistent():
    inv = SynthInvoice(lines=[SynthLine(price=Decimal("100.00"), quantity=Decimal("3"),
                                        tax_rate=Decimal("0.13")),
                              SynthLine(price=Decimal("10.50"), tax_rate=Decimal("0.06"))])
    original = members_of(build_ofd_invoice(inv))["Doc_0/Attachs/original_invoice.xml"].decode()
    total = re.search(r"<fp:TaxInclusiveTotalAmount>([^<]+)<", original).group(1)
    assert Decimal(total) == inv.total == Decimal("300.00") + Decimal("39.00") + Decimal("10.50") + Decimal("0.63")


def test_formats_reader_reads_it_like_a_real_invoice(pki):
    formats = pytest.importorskip("invoice_archive.formats")
    read_invoice = getattr(formats, "read_invoice", None)
    if read_invoice is None:
        pytest.skip("formats.read_invoice not available yet")
    from tests.support import testca
    data = build_ofd_invoice(number="00000042", buyer_tax_id="91440300SYNTH0003C")
    signed = testca.sign_ofd(data, pki.signer, testca.SealSpec(pki.seal_maker))
    for blob in (data, signed):
        doc = read_invoice(blob).to_dict()
        assert doc["number"] == "00000042"
        assert doc["buyer_tax_id"] == "91440300SYNTH0003C"
        assert Decimal(doc["total"]) == SynthInvoice().total
