"""入账信息结构化数据文件: the receiver's posting information of one e-voucher, as an
XBRL instance of the MOF e-voucher accounting data standard (电子凭证会计数据标准).

The standard gives each e-voucher an issuer-side XBRL file (the ones
``formats/xbrl.py`` reads inside OFD invoices) and, on the receiving side, one
posting-information file per original voucher, written when it is posted and
archived with the voucher (财会〔2024〕11号). This module writes that file for one
invoice of an archived item: who the accounting entity is, the invoice it is
about, whether it was checked (查验) and booked, and the journal voucher it was
posted with (number, date, period, summary, and the voucher's debit and credit
lines). The element names and what each holds are in docs/formats.md; the
receiver-side names are *unconfirmed* (third-party code), as DOMAIN notes.
Pure: plain mappings in, UTF-8 XML out; ``formats.xbrl.read_posting_info`` reads
it back.
"""
from __future__ import annotations

from typing import Any, Mapping

from lxml import etree as ET

XBRLI = "http://www.xbrl.org/2003/instance"
LINK = "http://www.xbrl.org/2003/linkbase"
XLINK = "http://www.w3.org/1999/xlink"
ISO4217 = "http://www.xbrl.org/2003/iso4217"
ENTITY_SCHEME = "http://xbrl.mof.gov.cn"

#: invoice kind -> (taxonomy prefix, taxonomy date) of the MOF e-voucher taxonomies
TAXONOMIES: Mapping[str, tuple[str, str]] = {
    "vat_e_normal": ("inv", "2021-09-30"), "vat_e_special": ("inv", "2021-09-30"),
    "digital_normal": ("inv", "2021-09-30"), "digital_special": ("inv", "2021-09-30"),
    "railway_ticket": ("rai", "2021-09-30"), "railway_ticket_refund": ("rai", "2021-09-30"),
    "bank_receipt": ("bker", "2021-11-30"), "bank_statement": ("bkrs", "2021-11-30"),
}

#: the invoice's identity, in each taxonomy's own issuer-side fact names (the ones
#: formats/xbrl.py reads): invoice field -> fact
IDENTITY_FACTS: Mapping[str, Mapping[str, str]] = {
    "inv": {"code": "CodeOfInvoice", "number": "NumberOfInvoice", "issue_date": "DateOfIssue",
            "total": "TaxIncludedAmountInFigures", "seller_name": "NameOfSeller",
            "seller_tax_id": "TaxpayerIdentificationNumberUnifiedSocialCreditCodeOfSeller",
            "buyer_name": "NameOfPurchaser",
            "buyer_tax_id": "TaxpayerIdentificationNumberUnifiedSocialCreditCodeOfPurchaser"},
    "rai": {"number": "ElectronicInvoiceRailwayETicketNumber", "issue_date": "DateOfIssue", "total": "Fare",
            "buyer_name": "NameOfPurchaser", "buyer_tax_id": "UnifiedSocialCreditCodeOfPurchaser"},
    "bker": {"code": "IdentificationCodeOfIssuer", "number": "NumberOfBankElectronicReceipt",
             "issue_date": "IssueDate", "total": "TransactionAmountInFigures", "buyer_name": "AccountNameOfPayer",
             "seller_name": "AccountNameOfPayee"},
    "bkrs": {"code": "IdentificationCodeOfIssuer", "issue_date": "PrintDate", "buyer_name": "NameOfCustomerAccount"},
}
#: facts that are amounts (unitRef CNY, decimals 2)
MONEY_FACTS = frozenset({"TaxIncludedAmountInFigures", "Fare", "TransactionAmountInFigures", "RecordedAmount"})

#: the receiver's facts (入账信息)
RECEIVER_FACTS = ("UnifiedSocialCreditCodeOfAccountingEntity", "NameOfAccountingEntity",
                  "WhetherEinvoiceHasBeenChecked", "WhetherEinvoiceHasBeenBooked")
DOCUMENT_TUPLE = "InformationOfAccountingDocumentsTuple"
ENTRY_TUPLE = "InformationOfDebitAndCreditEntryTuple"


def taxonomy_of(kind: str) -> tuple[str, str]:
    """(prefix, namespace) of the taxonomy for an invoice kind."""
    prefix, date = TAXONOMIES.get(kind, ("inv", "2021-09-30"))
    return prefix, f"http://xbrl.mof.gov.cn/taxonomy/{date}/{prefix}"


def file_name(kind: str, number: str) -> str:
    """The name the standard's files follow (``<taxonomy>_..._receiver_<number>.xml``)."""
    prefix, _ = taxonomy_of(kind)
    return f"{prefix}_receiver_{number}.xml"


def posting_info_xml(invoice: Mapping[str, Any], entity: Mapping[str, Any], voucher: Mapping[str, Any]) -> bytes:
    """The posting-information XBRL instance of one invoice.

    ``invoice``: kind, code, number, issue_date, total, seller_name, seller_tax_id,
    buyer_name, buyer_tax_id, checked (bool: the tax platform's 查验 said normal).
    ``entity``: name, credit_code (the accounting entity's unified social credit code).
    ``voucher``: number (记-0001), date, fiscal_year, period, summary, entries
    (direction 借/贷, account_code, account_name, amount)."""
    prefix, ns = taxonomy_of(invoice["kind"])
    root = ET.Element(f"{{{XBRLI}}}xbrl", nsmap={None: XBRLI, "link": LINK, "xlink": XLINK,
                                                 "iso4217": ISO4217, prefix: ns})
    date = str(voucher["date"])
    _, taxonomy_date = TAXONOMIES.get(invoice["kind"], ("inv", "2021-09-30"))
    ET.SubElement(root, f"{{{LINK}}}schemaRef", {f"{{{XLINK}}}type": "simple",
                                                 f"{{{XLINK}}}href": f"{prefix}_entry_point_{taxonomy_date}.xsd"})
    context_id = "As_Of_" + date.replace("-", "_")
    context = ET.SubElement(root, f"{{{XBRLI}}}context", {"id": context_id})
    ident = ET.SubElement(ET.SubElement(context, f"{{{XBRLI}}}entity"), f"{{{XBRLI}}}identifier",
                          {"scheme": ENTITY_SCHEME})
    ident.text = str(entity["credit_code"])
    ET.SubElement(ET.SubElement(context, f"{{{XBRLI}}}period"), f"{{{XBRLI}}}instant").text = date
    unit = ET.SubElement(root, f"{{{XBRLI}}}unit", {"id": "CNY"})
    ET.SubElement(unit, f"{{{XBRLI}}}measure").text = "iso4217:CNY"

    def fact(parent: ET.Element, name: str, value: Any) -> None:
        if value is None or value == "":
            return
        attrs = {"contextRef": context_id}
        if name in MONEY_FACTS:
            attrs.update(unitRef="CNY", decimals="2")
        ET.SubElement(parent, f"{{{ns}}}{name}", attrs).text = str(value)

    for key, name in IDENTITY_FACTS[prefix].items():
        fact(root, name, invoice.get(key))
    fact(root, "UnifiedSocialCreditCodeOfAccountingEntity", entity["credit_code"])
    fact(root, "NameOfAccountingEntity", entity["name"])
    fact(root, "WhetherEinvoiceHasBeenChecked", "true" if invoice.get("checked") else "false")
    fact(root, "WhetherEinvoiceHasBeenBooked", "true")
    document = ET.SubElement(root, f"{{{ns}}}{DOCUMENT_TUPLE}")
    fact(document, "NumberOfAccountingDocuments", voucher["number"])
    fact(document, "PostingDate", date)
    fact(document, "AccountingPeriod", f"{int(voucher['fiscal_year']):04d}{int(voucher['period']):02d}")
    fact(document, "SummaryOfAccountingDocuments", voucher.get("summary"))
    for e in voucher["entries"]:
        entry = ET.SubElement(document, f"{{{ns}}}{ENTRY_TUPLE}")
        fact(entry, "DebitOrCredit", e["direction"])
        fact(entry, "CodeOfGeneralLedgerSubject", e["account_code"])
        fact(entry, "NameOfGeneralLedgerSubject", e.get("account_name"))
        fact(entry, "RecordedAmount", e["amount"])
    ET.indent(root)
    return ET.tostring(root, encoding="UTF-8", xml_declaration=True) + b"\n"
