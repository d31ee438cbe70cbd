"""Renditions of e-invoices: OFD pages and the standard invoice layout, to SVG and PDF.

Pure functions (no database, no web): the web shows the SVG, the auditor's
bundle carries the PDF.  Both are drawn from one display list
(:mod:`invoice_archive.render.page`), so what the web shows is what the PDF holds.

* :func:`render_ofd_svg` / :func:`render_ofd_pdf` -- an OFD package (its zip
  members, as :func:`invoice_archive.formats.open_ofd` gives them) page by page:
  PhysicalBox, template pages, text (Boundary, CTM, DeltaX/DeltaY), paths,
  images, the Annots layer and the signatures' seal pictures.  A broken package
  renders what it can and never raises.
* :func:`render_document_svg` / :func:`render_document_pdf` -- any
  :class:`~invoice_archive.formats.InvoiceDocument` in the standard invoice
  layout (the rendition of a 数电票 XML).
* :func:`render_invoice_pdf` -- original bytes in, PDF out, whatever the format.
* :func:`rendition_text_positions` / :func:`ofd_text_positions` /
  :func:`pdf_text` -- read text back (tests, the offline bundle verifier).
"""
from __future__ import annotations

from typing import Mapping

from invoice_archive.formats import InvoiceDocument

from .invoice_layout import amount_in_words, date_cn, layout_document
from .ofd import ofd_page_count, ofd_pages, ofd_text_positions
from .page import Page
from .pdf import pages_pdf
from .svg import document_svg, page_svg, text_positions

__all__ = [
    "render_ofd_svg", "render_ofd_pdf", "render_document_svg", "render_document_pdf",
    "render_invoice_pdf", "rendition_text_positions", "ofd_text_positions", "ofd_page_count",
    "pdf_text", "amount_in_words", "date_cn", "Page",
]


def render_ofd_svg(members: Mapping[str, bytes], page_index: int = 0) -> str:
    """One OFD page as SVG (millimetre viewBox).  An index past the last page, or
    a package without readable pages, gives a blank A4 page with a note."""
    pages = ofd_pages(members)
    if 0 <= page_index < len(pages):
        return page_svg(pages[page_index])
    blank = Page(210.0, 297.0, notes=[f"第 {page_index + 1} 页不存在或无法读取（共 {len(pages)} 页）"])
    return page_svg(blank)


def render_ofd_pdf(members: Mapping[str, bytes]) -> bytes:
    """Every OFD page, in order, as one PDF."""
    return pages_pdf(ofd_pages(members), title="OFD 发票版式文件转换件")


def render_document_svg(doc: InvoiceDocument) -> str:
    return document_svg(layout_document(doc), title=_title(doc))


def render_document_pdf(doc: InvoiceDocument) -> bytes:
    return pages_pdf(layout_document(doc), title=_title(doc), subject=doc.business_key)


def render_invoice_pdf(data: bytes, doc: InvoiceDocument | None = None) -> bytes:
    """The PDF rendition of an original e-invoice: an OFD's own pages when it has
    any (falling back to the standard layout from ``doc`` when none can be
    drawn), else the standard layout from ``doc`` (read here when not given)."""
    if data[:4] == b"PK\x03\x04":
        from invoice_archive.formats import open_ofd

        try:
            pkg = open_ofd(data)
            members = {name: pkg[name] for name in pkg}
        except Exception:
            members = {}
        pages = ofd_pages(members) if members else []
        if pages and any(p.items for p in pages):
            return pages_pdf(pages, title="OFD 发票版式文件转换件",
                             subject=doc.business_key if doc is not None else None)
    if doc is None:
        from invoice_archive.formats import read_invoice

        doc = read_invoice(data)
    return render_document_pdf(doc)


def rendition_text_positions(svg: str) -> list[tuple[str, float, float, float]]:
    """(text, x, y, font size) of every text run in an SVG rendition, in page mm."""
    return text_positions(svg)


def pdf_text(pdf: bytes) -> str:
    """The text of a PDF rendition (pypdf), pages joined by newlines."""
    import io

    from pypdf import PdfReader

    reader = PdfReader(io.BytesIO(pdf))
    return "\n".join((page.extract_text() or "") for page in reader.pages)


def _title(doc: InvoiceDocument) -> str:
    from invoice_archive.formats import KIND_LABELS

    return f"{KIND_LABELS.get(doc.kind, '电子发票')} {doc.business_key}"
