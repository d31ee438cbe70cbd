"""``read_invoice``: bytes in, one :class:`InvoiceDocument` out, whatever the format.

The format is decided by the bytes (magic numbers), never by the file name: a
PDF renamed ``.ofd`` is read as a PDF, an image renamed ``.ofd`` is refused.
"""
from __future__ import annotations

from .einvoice_xml import is_einvoice, read_einvoice
from .errors import InvoiceFormatError
from .limits import DEFAULT_LIMITS, Limits
from .merge import merge
from .model import InvoiceDocument
from .ofd import read_ofd_package
from .package import check_upload, open_ofd
from .xbrl import read_xbrl
from .xmlsafe import local, parse

_IMAGE_MAGIC = {
    b"\x89PNG": "PNG 图片",
    b"\xff\xd8\xff": "JPEG 图片",
    b"GIF8": "GIF 图片",
    b"BM": "BMP 图片",
    b"II*\x00": "TIFF 图片",
    b"MM\x00*": "TIFF 图片",
    b"RIFF": "WEBP 图片",
}
_OTHER_MAGIC = {
    b"Rar!": "RAR 压缩包",
    b"7z\xbc\xaf": "7z 压缩包",
    b"\x1f\x8b": "GZIP 压缩包",
    b"\xd0\xcf\x11\xe0": "Office 97-2003 文档",
}


def sniff(data: bytes) -> str:
    """'ofd' (zip), 'pdf', 'xml' or a Chinese description of something else."""
    head = data[:1024]
    if head.startswith((b"PK\x03\x04", b"PK\x05\x06")):
        return "ofd"
    if b"%PDF-" in head:
        return "pdf"
    for magic, label in _IMAGE_MAGIC.items():
        if head.startswith(magic):
            return label
    for magic, label in _OTHER_MAGIC.items():
        if head.startswith(magic):
            return label
    stripped = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    if stripped.startswith(b"<"):
        return "xml"
    if head[:2] in (b"\xff\xfe", b"\xfe\xff"):
        return "xml"  # UTF-16 XML: refused as bad_encoding by the XML reader
    return "未知格式"


def read_invoice(
    data: bytes,
    *,
    filename: str | None = None,
    limits: Limits | None = None,
    thorough: bool = False,
    whole_package: bool = False,
) -> InvoiceDocument:
    """Read an e-invoice (OFD, XML or PDF) into an :class:`InvoiceDocument`.

    Raises :class:`InvoiceFormatError` for every file it refuses.

    ``thorough``: for an OFD whose structured attachment (original_invoice.xml,
    XBRL, embedded EInvoice XML) already gives the invoice, also resolve the tag
    tree against the visible page text and cross-check it (slower on multi-page
    invoices). Without it, the attachment is cross-checked against the QR
    payload (GraphCode) and DocInfo/CustomDatas only; an OFD without such an
    attachment is always read from its tag tree.

    ``whole_package``: also inflate every OFD member the invoice does not need
    (fonts, images, signatures), enforcing every size and ratio limit, so a
    file is refused for a lying member exactly as intake refuses it.
    """
    limits = limits or DEFAULT_LIMITS
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError("read_invoice expects bytes")
    data = bytes(data)
    check_upload(data, limits)
    kind = sniff(data)
    if kind == "ofd":
        pkg = open_ofd(data, limits)
        if whole_package:
            pkg.check_all()
        return read_ofd_package(pkg, limits, thorough)
    if kind == "xml":
        return _read_xml(data, filename or "", limits)
    if kind == "pdf":
        from .pdf import read_pdf  # imported lazily: pypdf is only needed for PDFs

        return read_pdf(data, limits)
    raise InvoiceFormatError("unsupported_format", detected=kind, filename=filename)


def _read_xml(data: bytes, filename: str, limits: Limits) -> InvoiceDocument:
    root = parse(data, filename or "XML", limits)
    if is_einvoice(root):
        draft = read_einvoice(root, "xml")
    elif local(root.tag) == "xbrl":
        draft = read_xbrl(root)
        if draft is not None:
            draft.source = "xml"
    else:
        draft = None
    if draft is None or ("number" not in draft.fields and not draft.fields.get("kind", "").startswith("bank")):
        raise InvoiceFormatError("not_an_invoice", reason=f"XML 根元素 {local(root.tag)} 不是电子发票")
    default = None if "kind" in draft.fields else "digital_normal"
    warnings = [] if default is None else ["XML 未标明普票/专票，按电子发票（普通发票）处理。"]
    return merge([draft], source_format="xml", warnings=warnings, default_kind=default)
