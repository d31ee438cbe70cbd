"""数电票 XML (root ``EInvoice``, no namespace), as issued by the national platform."""
from __future__ import annotations

import re

from . import normalize as norm
from .merge import Draft
from .model import LineItem
from .xmlsafe import Element, find, findall, findtext, local, path, text_of

_PAYEE = re.compile(r"收款人[:：]\s*([^;；,，\s]+)")
_CHECKER = re.compile(r"复核人?[:：]\s*([^;；,，\s]+)")


def is_einvoice(root: Element) -> bool:
    return local(root.tag) == "EInvoice"


def read_einvoice(root: Element, source: str) -> Draft:
    draft = Draft(source)
    header = find(root, "Header")
    data = find(root, "EInvoiceData")
    supervision = find(root, "TaxSupervisionInfo")
    if header is not None:
        draft.set("number", norm.ident(findtext(header, "EIid")))
        label = find(header, "InherentLabel")
        if label is not None:
            vat = path(label, "GeneralOrSpecialVAT", "LabelCode")
            code = norm.ident(text_of(vat))
            if code == "01":
                draft.set("kind", "digital_special")
            elif code == "02":
                draft.set("kind", "digital_normal")
            else:
                name = path(label, "GeneralOrSpecialVAT", "LabelName")
                kind = norm.kind_from_title("电子发票（" + (text_of(name) or "") + "）")
                draft.set("kind", kind)
            issue = path(label, "InIssuType", "LabelCode")
            if issue is not None and norm.ident(text_of(issue)) in ("Y", "N"):
                draft.set("is_red", norm.ident(text_of(issue)) == "N")
    if supervision is not None:
        number = norm.ident(findtext(supervision, "InvoiceNumber"))
        if number and "number" not in draft.fields:
            draft.set("number", number)
        elif number and number != draft.fields.get("number"):
            draft.extra["supervision_invoice_number"] = number
        draft.set("issue_date", norm.date(findtext(supervision, "IssueTime")))
        bureau = norm.text(findtext(supervision, "TaxBureauName"))
        if bureau:
            draft.extra["tax_bureau_name"] = bureau
    if data is not None:
        seller = find(data, "SellerInformation")
        if seller is not None:
            draft.set("seller_tax_id", norm.ident(findtext(seller, "SellerIdNum")))
            draft.set("seller_name", norm.text(findtext(seller, "SellerName")))
            draft.set("seller_address_phone", _join(findtext(seller, "SellerAddr"), findtext(seller, "SellerTelNum")))
            draft.set("seller_bank_account", _join(findtext(seller, "SellerBankName"), findtext(seller, "SellerBankAccNum")))
        buyer = find(data, "BuyerInformation")
        if buyer is not None:
            draft.set("buyer_tax_id", norm.ident(findtext(buyer, "BuyerIdNum")))
            draft.set("buyer_name", norm.text(findtext(buyer, "BuyerName")))
            draft.set("buyer_address_phone", _join(findtext(buyer, "BuyerAddr"), findtext(buyer, "BuyerTelNum")))
            draft.set("buyer_bank_account", _join(findtext(buyer, "BuyerBankName"), findtext(buyer, "BuyerBankAccNum")))
        basic = find(data, "BasicInformation")
        if basic is not None:
            draft.set("amount_excl_tax", norm.money(findtext(basic, "TotalAmWithoutTax"), "合计金额"))
            draft.set("tax", norm.money(findtext(basic, "TotalTaxAm"), "合计税额"))
            draft.set("total", norm.money(findtext(basic, "TotalTax-includedAmount"), "价税合计"))
            draft.set("total_in_words", norm.text(findtext(basic, "TotalTax-includedAmountInChinese")))
            draft.set("clerk", norm.text(findtext(basic, "Drawer")))
            if "issue_date" not in draft.fields:
                draft.set("issue_date", norm.date(findtext(basic, "RequestTime")))
        lines = []
        for item in findall(data, "IssuItemInformation"):
            rate_text = norm.text(findtext(item, "TaxRate"))
            lines.append(
                LineItem(
                    name=norm.text(findtext(item, "ItemName")),
                    specification=norm.text(findtext(item, "SpecMod")),
                    unit=norm.text(findtext(item, "MeaUnits")),
                    quantity=norm.amount(findtext(item, "Quantity")),
                    unit_price=norm.amount(findtext(item, "UnPrice")),
                    amount=norm.money(findtext(item, "Amount"), "明细金额"),
                    tax_rate=norm.rate(rate_text),
                    tax=norm.money(findtext(item, "ComTaxAm"), "明细税额"),
                    tax_rate_text=rate_text,
                )
            )
        draft.lines = lines
        specific = find(data, "SpecificInformation")
        if specific is not None:
            red = find(specific, "RedEInvoice")
            if red is not None:
                draft.set("is_red", True)
                draft.set("original_number", norm.ident(findtext(red, "OriginalInvoiceNumber")))
                credit = norm.ident(findtext(red, "CreditNoteNumber"))
                if credit:
                    draft.extra["red_info_number"] = credit
        extra_info = find(data, "AdditionalInformation")
        if extra_info is not None:
            remark = norm.text(findtext(extra_info, "Remark"))
            draft.set("remarks", remark)
            apply_remark_people(draft, remark)
    draft.extra["tax_bureau_signature"] = "present" if find(root, "TaxBureauSignature") is not None else "absent"
    return draft


def apply_remark_people(draft: Draft, remark: str | None) -> None:
    """数电票 print 收款人/复核人 in the remarks; lift them into their fields."""
    if not remark:
        return
    match = _PAYEE.search(remark)
    if match:
        draft.set("payee", match.group(1))
    match = _CHECKER.search(remark)
    if match:
        draft.set("checker", match.group(1))


def _join(*parts: str | None) -> str | None:
    cleaned = [p for p in (norm.text(x) for x in parts) if p]
    return " ".join(cleaned) if cleaned else None
