"""Renditions of every real OFD sample: text at its place in the SVG, page count,
a PDF that opens and holds the invoice's number and amounts."""
from __future__ import annotations

import io
import json
import re

import pytest
from pypdf import PdfReader

from invoice_archive.render import (ofd_page_count, pdf_text, render_ofd_pdf, render_ofd_svg,
                                    rendition_text_positions)

from ._ofd import OFD_SAMPLES, SAMPLES, expected_text, members_of, page_files

TOLERANCE = 0.05  # mm

pytestmark = pytest.mark.skipif(not OFD_SAMPLES, reason=f"real sample invoices not found at {SAMPLES} "
                                                        "(../shared is absent)")


def _ids(p):
    return f"{p.parent.name}/{p.name}"


def _expected() -> dict[str, dict]:
    path = SAMPLES / "expected.json"
    if not path.is_file():
        return {}
    return {s["file"].rstrip("/"): s for s in json.loads(path.read_text("utf-8"))["samples"]}


@pytest.mark.parametrize("path", OFD_SAMPLES, ids=_ids)
def test_every_text_object_is_in_the_svg_at_its_position(path):
    members = members_of(path)
    pages = page_files(members)
    assert ofd_page_count(members) == len(pages)
    checked = 0
    for index in range(len(pages)):
        svg = render_ofd_svg(members, index)
        found = rendition_text_positions(svg)
        for text, x, y, size in expected_text(members, index):
            hits = [(fx, fy, fs) for t, fx, fy, fs in found if t == text]
            assert hits, f"page {index + 1}: text {text!r} missing from the SVG"
            assert any(abs(fx - x) <= TOLERANCE and abs(fy - y) <= TOLERANCE for fx, fy, _ in hits), \
                f"page {index + 1}: {text!r} expected at ({x:.2f}, {y:.2f}), found at {hits[:3]}"
            assert any(abs(fs - size) <= 0.01 for _fx, _fy, fs in hits), f"{text!r}: font size {size}"
            checked += 1
    if _expected().get(f"{path.parent.name}/{path.name}", {}).get("number"):
        assert checked > 0  # an invoice's page has text


@pytest.mark.parametrize("path", OFD_SAMPLES, ids=_ids)
def test_svg_is_well_formed_with_page_size_and_cjk_fonts(path):
    import xml.etree.ElementTree as ET

    members = members_of(path)
    svg = render_ofd_svg(members, 0)
    root = ET.fromstring(svg)
    w, h = (float(v) for v in root.get("viewBox").split()[2:])
    assert w > 0 and h > 0 and root.get("width").endswith("mm")
    fonts = {t.get("font-family") for t in root.iter("{http://www.w3.org/2000/svg}text")}
    assert all("serif" in f or "sans-serif" in f or "monospace" in f for f in fonts)


@pytest.mark.parametrize("path", OFD_SAMPLES, ids=_ids)
def test_pdf_opens_with_the_right_pages_and_the_invoice_data(path):
    members = members_of(path)
    pdf = render_ofd_pdf(members)
    reader = PdfReader(io.BytesIO(pdf))
    assert len(reader.pages) == len(page_files(members))
    text = re.sub(r"\s+", "", pdf_text(pdf))
    want = _expected().get(f"{path.parent.name}/{path.name}", {})
    for key in ("number", "code", "total", "amount_excl_tax", "tax"):
        value = want.get(key)
        if value and not (key == "tax" and "no_page_container" in path.name):
            assert value in text, f"{key} {value} not in the PDF text"


def test_page_size_comes_from_physical_box():
    path = SAMPLES / "ofdrw" / "converter__1.ofd"
    if not path.is_file():
        pytest.skip("sample absent")
    svg = render_ofd_svg(members_of(path))
    assert 'viewBox="0 0 210 140"' in svg


def test_seal_picture_is_drawn_from_the_signature():
    """converter__1's seal picture is itself a small OFD: it is drawn in place."""
    path = SAMPLES / "ofdrw" / "converter__1.ofd"
    if not path.is_file():
        pytest.skip("sample absent")
    members = members_of(path)
    page_text = {t for t, *_ in expected_text(members, 0)}
    seal_text = [t for t, x, y, _s in rendition_text_positions(render_ofd_svg(members))
                 if t not in page_text and "税务" in t]
    assert seal_text, "the seal (国家税务总局 …) is not drawn"


def test_png_seal_picture_of_a_synthetic_signed_invoice():
    from invoice_archive.formats import open_ofd
    from invoice_archive.synth.ofd import build_ofd_invoice
    from tests.support import testca

    pki = testca.build_pki()
    signed = testca.sign_ofd(build_ofd_invoice(), pki.signer, testca.SealSpec(pki.seal_maker))
    pkg = open_ofd(signed)
    svg = render_ofd_svg({n: pkg[n] for n in pkg})
    assert 'data-label="seal"' in svg  # the seal's PNG picture at its StampAnnot
    assert render_ofd_pdf({n: pkg[n] for n in pkg}).startswith(b"%PDF")


def test_annotation_stamp_of_the_unzipped_digital_invoice():
    path = SAMPLES / "easyofd" / "dzfp_25442000000127444519_extracted"
    if not path.is_dir():
        pytest.skip("sample absent")
    members = members_of(path)
    svg = render_ofd_svg(members)
    assert "25442000000127444519" in svg
