"""Synthetic fully digital invoices (数电票) as XML, for demos, tests and load tests.

The element names are the published ones (root EInvoice, no namespace); the
parties and numbers are invented. The TaxBureauSignature is a placeholder, so
the verifier reports it as present but not verifiable, exactly as for a real one.
"""
from __future__ import annotations

import datetime as dt
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal

from invoice_archive.rules.words import rmb_words

CENT = Decimal("0.01")


@dataclass(frozen=True)
class SynthLine:
    name: str = "*信息技术服务*软件维护费"
    amount: Decimal = Decimal("1000.00")      # excluding tax
    tax_rate: Decimal = Decimal("0.06")
    quantity: Decimal = Decimal("1")
    unit: str = "项"

    @property
    def tax(self) -> Decimal:
        return (self.amount * self.tax_rate).quantize(CENT, ROUND_HALF_UP)


@dataclass(frozen=True)
class SynthInvoice:
    number: str = "24992000000000000001"     # 20 digits; province "99" is not a real one
    issued: dt.datetime = dt.datetime(2024, 7, 15, 10, 30, 0)
    special: bool = False                    # 专票 when True, else 普票
    seller_name: str = "示例软件服务有限公司"
    seller_tax_id: str = "91110000SYNTH0001A"
    buyer_name: str = "演示科技有限公司"
    buyer_tax_id: str = "91110000DEMO00001X"
    lines: tuple[SynthLine, ...] = field(default_factory=lambda: (SynthLine(),))
    red_of: str | None = None                # the blue invoice this red one reverses
    drawer: str = "示例开票员"
    signed: bool = True                      # carry a (placeholder) TaxBureauSignature

    @property
    def amount(self) -> Decimal:
        return sum((ln.amount for ln in self.lines), Decimal("0.00"))

    @property
    def tax(self) -> Decimal:
        return sum((ln.tax for ln in self.lines), Decimal("0.00"))

    @property
    def total(self) -> Decimal:
        return self.amount + self.tax


def _sub(parent: ET.Element, tag: str, text: object = "") -> ET.Element:
    el = ET.SubElement(parent, tag)
    el.text = "" if text is None else str(text)
    return el


def _label(parent: ET.Element, tag: str, code: str, name: str) -> None:
    el = ET.SubElement(parent, tag)
    _sub(el, "LabelCode", code)
    _sub(el, "LabelName", name)


def build_xml_invoice(inv: SynthInvoice = SynthInvoice()) -> bytes:
    sign = -1 if inv.red_of else 1
    root = ET.Element("EInvoice")
    header = _sub(root, "Header")
    _sub(header, "EIid", inv.number)
    _sub(header, "EInvoiceTag", "SWEI9900")
    _sub(header, "Version", "0.32")
    labels = _sub(header, "InherentLabel")
    _label(labels, "EInvoiceType", "01", "电子发票")
    _label(labels, "GeneralOrSpecialVAT", *(("01", "增值税专用发票") if inv.special else ("02", "普通发票")))
    _label(labels, "InIssuType", *(("N", "红字发票") if inv.red_of else ("Y", "蓝字发票")))

    data = _sub(root, "EInvoiceData")
    seller = _sub(data, "SellerInformation")
    _sub(seller, "SellerIdNum", inv.seller_tax_id)
    _sub(seller, "SellerName", inv.seller_name)
    for tag in ("SellerAddr", "SellerTelNum", "SellerBankName", "SellerBankAccNum"):
        _sub(seller, tag)
    buyer = _sub(data, "BuyerInformation")
    _sub(buyer, "BuyerIdNum", inv.buyer_tax_id)
    _sub(buyer, "BuyerName", inv.buyer_name)
    for tag in ("BuyerAddr", "BuyerTelNum", "BuyerBankName", "BuyerBankAccNum"):
        _sub(buyer, tag)
    basic = _sub(data, "BasicInformation")
    total = sign * inv.total
    _sub(basic, "TotalAmWithoutTax", f"{sign * inv.amount:.2f}")
    _sub(basic, "TotalTaxAm", f"{sign * inv.tax:.2f}")
    _sub(basic, "TotalTax-includedAmount", f"{total:.2f}")
    _sub(basic, "TotalTax-includedAmountInChinese", rmb_words(total))
    _sub(basic, "Drawer", inv.drawer)
    _sub(basic, "RequestTime", inv.issued.strftime("%Y-%m-%d %H:%M:%S"))
    for ln in inv.lines:
        item = _sub(data, "IssuItemInformation")
        _sub(item, "ItemName", ln.name)
        _sub(item, "SpecMod")
        _sub(item, "MeaUnits", ln.unit)
        _sub(item, "Quantity", sign * ln.quantity)
        _sub(item, "UnPrice", f"{(ln.amount / ln.quantity).quantize(Decimal('0.00000001'))}")
        _sub(item, "Amount", f"{sign * ln.amount:.2f}")
        _sub(item, "TaxRate", f"{ln.tax_rate}")
        _sub(item, "ComTaxAm", f"{sign * ln.tax:.2f}")
        _sub(item, "TotaltaxIncludedAmount", f"{sign * (ln.amount + ln.tax):.2f}")
    if inv.red_of:
        spec = _sub(data, "SpecificInformation")
        red = _sub(spec, "RedEInvoice")
        _sub(red, "OriginalInvoiceNumber", inv.red_of)
    extra = _sub(data, "AdditionalInformation")
    _sub(extra, "Remark", "合成示例发票，仅供演示与测试")

    supervision = _sub(root, "TaxSupervisionInfo")
    _sub(supervision, "InvoiceNumber", inv.number)
    _sub(supervision, "IssueTime", inv.issued.strftime("%Y-%m-%d %H:%M:%S"))
    _sub(supervision, "TaxBureauCode", "19900000000")
    _sub(supervision, "TaxBureauName", "示例税务机关")
    if inv.signed:
        sig = _sub(root, "TaxBureauSignature")
        ET.SubElement(sig, "Reference", URI="/EInvoice/Header|/EInvoice/EInvoiceData|/EInvoice/TaxSupervisionInfo")
        _sub(sig, "SignatureAlgorithm", "1.2.156.10197.1.501")
        _sub(sig, "SignatureFormat", "DETACH")
        _sub(sig, "SignatureTime", inv.issued.strftime("%Y-%m-%d %H:%M:%S"))
        _sub(sig, "SignatureValue", "U1lOVEhFVElDLVBMQUNFSE9MREVSLU5PVC1BLVNJR05BVFVSRQ==")
        _sub(sig, "KeyInfo")
    ET.indent(root)
    return ET.tostring(root, encoding="utf-8", xml_declaration=True) + b"\n"
