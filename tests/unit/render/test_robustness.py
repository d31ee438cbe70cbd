"""Broken or unusual OFD packages render what they can and never raise."""
from __future__ import annotations

import pytest

from invoice_archive.render import ofd_page_count, pdf_text, render_ofd_pdf, render_ofd_svg
from invoice_archive.render.ofd import parse_deltas, parse_path
from invoice_archive.synth.ofd import build_ofd_invoice
from invoice_archive.formats import open_ofd

from ._ofd import SAMPLES, members_of


def _synth() -> dict[str, bytes]:
    pkg = open_ofd(build_ofd_invoice(number="00000088"))
    return {n: pkg[n] for n in pkg}


def test_no_page_container_sample_renders():
    path = SAMPLES / "ofdrw" / "layout__no_page_container.ofd"
    if not path.is_file():
        pytest.skip("sample absent")
    members = members_of(path)
    svg = render_ofd_svg(members)
    assert "04875996" in svg and "上海浪潮云计算服务有限公司" in svg
    assert "04875996" in pdf_text(render_ofd_pdf(members))


@pytest.mark.parametrize("mutate", [
    lambda m: {},
    lambda m: {k: v for k, v in m.items() if k != "OFD.xml"},
    lambda m: {k: v for k, v in m.items() if k != "Doc_0/Document.xml"},
    lambda m: {**m, "Doc_0/Pages/Page_0/Content.xml": b"<not xml"},
    lambda m: {**m, "Doc_0/Document.xml": m["Doc_0/Document.xml"].replace(b"Pages/Page_0", b"Pages/Nope")},
    lambda m: {**m, "Doc_0/Pages/Page_0/Content.xml": m["Doc_0/Pages/Page_0/Content.xml"]
               .replace(b'Size="', b'Size="x').replace(b'Boundary="', b'Boundary="nan ')},
    lambda m: {**m, "Doc_0/Pages/Page_0/Content.xml": m["Doc_0/Pages/Page_0/Content.xml"]
               .replace(b'<ofd:TextCode X="0"', b'<ofd:TextCode DeltaX="g zz 1 g 99999999 1" X="0"')},
    lambda m: {**m, "OFD.xml": b"\xff\xfe\x00garbage"},
], ids=["empty", "no OFD.xml", "no Document.xml", "page not xml", "page missing", "bad numbers",
        "bad deltas", "OFD.xml binary"])
def test_broken_packages_never_raise(mutate):
    members = mutate(_synth())
    svg = render_ofd_svg(members)
    assert svg.startswith("<svg")
    assert render_ofd_pdf(members).startswith(b"%PDF")
    assert ofd_page_count(members) >= 0


def test_page_index_past_the_end_gives_a_blank_page():
    svg = render_ofd_svg(_synth(), 7)
    assert "第 8 页不存在" in svg


def test_deltas_and_paths():
    assert parse_deltas("g 3 2.5 1.2") == [2.5, 2.5, 2.5, 1.2]
    ops = parse_path("M 0 0 L 10 0 B 1 1 2 2 3 3 Q 1 1 2 2 A 5 5 0 0 1 10 10 C")
    kinds = [op[0] for op in ops]
    assert kinds[:4] == ["M", "L", "C", "Q"] and kinds[-1] == "Z" and kinds.count("L") > 2
