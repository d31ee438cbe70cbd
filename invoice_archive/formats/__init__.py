"""Pure readers: e-invoice bytes (OFD / XML / PDF) -> one immutable InvoiceDocument.

No database, no web framework. Every refusal is an :class:`InvoiceFormatError`
with a stable ``code`` (see :data:`CODES` for the list, HTTP status and Chinese
message of each).

    doc = read_invoice(data, filename="x.ofd")     # format decided by the bytes
    doc.business_key, doc.kind, doc.total, doc.to_dict()
    pkg = open_ofd(data)                           # safe zip: Mapping[name, bytes]

Sources, best first (``doc.provenance`` names the one each field came from;
a disagreement between sources is a Chinese sentence in ``doc.warnings``):

====================  =========================================================
``xml``               数电票 XML (root ``EInvoice``)
``ofd:<name>``        an EInvoice XML attached inside an OFD
``ofd:original_invoice.xml``  structured record of 增值税电子发票
``ofd:xbrl``          MOF XBRL attachment (inv / rai / bker / bkrs taxonomies)
``ofd:graph_code``    the QR payload in original_invoice.xml
``ofd:tags``          the OFD tag tree resolved to page TextObjects (dialects A/B/C)
``ofd:custom_datas``  OFD.xml DocInfo/CustomDatas
``pdf:text``          printed text of a PDF (weakest; always warned about)
====================  =========================================================

The tag tree is read when no structured attachment gives the invoice, or
with ``read_invoice(..., thorough=True)`` to cross-check the visible page.
"""
from .errors import CODES, InvoiceFormatError
from .limits import Limits
from .model import KIND_LABELS, KINDS, InvoiceDocument, LineItem, Party
from .package import OfdPackage, open_ofd
from .reader import read_invoice, sniff

__all__ = [
    "CODES",
    "KINDS",
    "KIND_LABELS",
    "InvoiceDocument",
    "InvoiceFormatError",
    "Limits",
    "LineItem",
    "OfdPackage",
    "Party",
    "open_ofd",
    "read_invoice",
    "sniff",
]
