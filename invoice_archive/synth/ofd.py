"""Byte-valid synthetic OFD invoices (unsigned).

Structure modelled on real 增值税电子普通发票 OFD files (the TextObjects sit
where the standard form prints them; formats/page_layout.py reads them back): ``OFD.xml`` with
DocInfo/CustomDatas, ``Doc_0/Document.xml``, ``Pages/Page_0/Content.xml`` with
TextObjects, ``Tags/CustomTags.xml`` + ``CustomTag.xml`` (tag tree in the
``http://www.edrm.org.cn/schema/e-invoice/2019`` namespace whose ObjectRefs
point at the TextObject IDs), and ``Attachs/original_invoice.xml`` (the full
structured record, same namespace).  All parties are invented; tax IDs carry
"SYNTH" so they can never be mistaken for real ones.

Sign the result with ``invoice_archive/synth/pki.py`` when a signed invoice is
needed.
"""
from __future__ import annotations

import dataclasses
import hashlib
import io
import zipfile
from dataclasses import dataclass, field
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, Mapping
from xml.sax.saxutils import escape, quoteattr

OFD_NS = "http://www.ofdspec.org/2016"
FP_NS = "http://www.edrm.org.cn/schema/e-invoice/2019"
FIXED_ZIP_TIME = (2020, 1, 1, 0, 0, 0)
CENT = Decimal("0.01")


@dataclass
class SynthLine:
    name: str = "*信息技术服务*软件测试服务（合成）"
    spec: str = ""
    unit: str = "项"
    quantity: Decimal = Decimal("1")
    price: Decimal = Decimal("300.00")
    tax_rate: Decimal = Decimal("0.06")

    @property
    def amount(self) -> Decimal:
        return (self.quantity * self.price).quantize(CENT, ROUND_HALF_UP)

    @property
    def tax(self) -> Decimal:
        return (self.amount * self.tax_rate).quantize(CENT, ROUND_HALF_UP)


@dataclass
class SynthInvoice:
    code: str = "099001900111"
    number: str = "00000001"
    issue_date: date = date(2024, 3, 15)
    check_code: str = "12345678901234567890"
    machine_no: str = "499000000001"
    kind_title: str = "合成增值税电子普通发票"
    buyer_name: str = "示例采购有限公司（合成数据）"
    buyer_tax_id: str = "91310000SYNTH0002B"
    buyer_addr_tel: str = ""
    buyer_bank: str = ""
    seller_name: str = "示例销售科技有限公司（合成数据）"
    seller_tax_id: str = "91110108SYNTH0001A"
    seller_addr_tel: str = "示例市示例路1号 010-00000000"
    seller_bank: str = "示例银行示例支行 6200000000000000000"
    lines: list[SynthLine] = field(default_factory=lambda: [SynthLine()])
    note: str = "合成测试数据，非真实发票"
    clerk: str = "开票员甲"
    payee: str = "收款员乙"
    checker: str = "复核员丙"

    @property
    def amount_excl_tax(self) -> Decimal:
        return sum((ln.amount for ln in self.lines), Decimal("0.00"))

    @property
    def tax(self) -> Decimal:
        return sum((ln.tax for ln in self.lines), Decimal("0.00"))

    @property
    def total(self) -> Decimal:
        return self.amount_excl_tax + self.tax


def _coerce(fields: Mapping[str, Any] | SynthInvoice | Any | None, overrides: dict) -> SynthInvoice:
    if isinstance(fields, SynthInvoice):
        base = dataclasses.asdict(fields)
        base["lines"] = list(fields.lines)
    elif fields is None:
        base = {}
    elif dataclasses.is_dataclass(fields):
        base = dataclasses.asdict(fields)
    else:
        base = dict(fields)
    base.update(overrides)
    known = {f.name for f in dataclasses.fields(SynthInvoice)}
    unknown = set(base) - known
    if unknown:
        raise TypeError(f"unknown invoice fields: {sorted(unknown)}")
    lines = base.get("lines")
    if lines is not None:
        base["lines"] = [ln if isinstance(ln, SynthLine) else SynthLine(**{
            k: (Decimal(str(v)) if k in {"quantity", "price", "tax_rate"} else v)
            for k, v in dict(ln).items()}) for ln in lines]
        if not base["lines"]:
            raise ValueError("an invoice needs at least one line")
    if isinstance(base.get("issue_date"), str):
        base["issue_date"] = date.fromisoformat(base["issue_date"])
    return SynthInvoice(**base)


def _money(d: Decimal) -> str:
    return f"{d.quantize(CENT, ROUND_HALF_UP)}"


def _words(value: Decimal) -> str:
    from invoice_archive.rules.words import rmb_words

    return rmb_words(value)


def _rate(r: Decimal) -> str:
    pct = (r * 100).normalize()
    return f"{pct:f}%"


class _Page:
    """Collects TextObjects and hands out their IDs."""

    def __init__(self, first_id: int):
        self.next_id = first_id
        self.objects: list[str] = []

    def text(self, value: str, x: float, y: float, w: float = 60, size: float = 3.175) -> int:
        oid = self.next_id
        self.next_id += 1
        self.objects.append(
            f'<ofd:TextObject ID="{oid}" Boundary="{x:g} {y:g} {w:g} 5" Font="3" Size="{size:g}">'
            f'<ofd:TextCode X="0" Y="4.0875">{escape(value)}</ofd:TextCode></ofd:TextObject>')
        return oid


def build_ofd_invoice(fields: Mapping[str, Any] | SynthInvoice | Any | None = None, *,
                      doc_id: str | None = None, **overrides: Any) -> bytes:
    """Build an unsigned OFD invoice.  ``fields`` (dict or dataclass) and
    keyword overrides replace the synthetic defaults of :class:`SynthInvoice`,
    e.g. ``build_ofd_invoice(buyer_tax_id="91440300SYNTH0003C", number="00000042")``.
    The output is deterministic for equal inputs."""
    inv = _coerce(fields, overrides)
    date_cn = f"{inv.issue_date.year}年{inv.issue_date.month:02d}月{inv.issue_date.day:02d}日"
    check_grouped = " ".join(inv.check_code[i:i + 5] for i in range(0, len(inv.check_code), 5))
    doc_id = doc_id or hashlib.sha256(f"{inv.code}/{inv.number}".encode()).hexdigest()[:32]

    # --- page content with TextObjects; the tag tree points at their IDs
    page = _Page(first_id=10)
    refs: dict[str, list[int]] = {}
    refs["title"] = [page.text(inv.kind_title, 69, 7, 72, 6.7)]
    refs["InvoiceCode"] = [page.text(inv.code, 164, 6.2, 40)]
    refs["InvoiceNo"] = [page.text(inv.number, 164, 11.7, 40)]
    refs["IssueDate"] = [page.text(date_cn, 164, 17.2, 40)]
    refs["InvoiceCheckCode"] = [page.text(check_grouped, 164, 22.7, 40)]
    refs["MachineNo"] = [page.text(inv.machine_no, 22, 24, 36)]
    refs["BuyerName"] = [page.text(inv.buyer_name, 36, 30, 82.5)]
    refs["BuyerTaxID"] = [page.text(inv.buyer_tax_id, 36, 35, 82.5)]
    goods: list[dict[str, list[int]]] = []
    y = 58.0
    for ln in inv.lines:
        goods.append({
            "Item": [page.text(ln.name, 5, y, 50)],
            "Specification": [page.text(ln.spec, 56, y, 20)] if ln.spec else [],
            "MeasurementDimension": [page.text(ln.unit, 77, y, 10)] if ln.unit else [],
            "Quantity": [page.text(f"{ln.quantity.normalize():f}", 95.5, y, 18)],
            "Price": [page.text(f"{ln.price}", 115, y, 18)],
            "Amount": [page.text(_money(ln.amount), 135.5, y, 28)],
            "TaxScheme": [page.text(_rate(ln.tax_rate), 165.2, y, 10)],
            "TaxAmount": [page.text(_money(ln.tax), 176.5, y, 28)],
        })
        y += 4.5
    refs["TaxExclusiveTotalAmount"] = [page.text("¥", 134.8, 91.5, 30), page.text(_money(inv.amount_excl_tax), 134.8, 91.5, 30)]
    refs["TaxTotalAmount"] = [page.text("¥", 175.8, 91.5, 30), page.text(_money(inv.tax), 175.8, 91.5, 30)]
    refs["TaxInclusiveTotalAmountWithWords"] = [page.text(_words(inv.total), 63, 95.8, 96)]
    refs["TaxInclusiveTotalAmount"] = [page.text("¥", 168, 96, 37), page.text(_money(inv.total), 168, 96, 37)]
    refs["SellerName"] = [page.text(inv.seller_name, 36, 104, 82.5)]
    refs["SellerTaxID"] = [page.text(inv.seller_tax_id, 36, 108.5, 82.5)]
    refs["SellerAddrTel"] = [page.text(inv.seller_addr_tel, 36, 112.7, 82.5)]
    refs["SellerFinancialAccount"] = [page.text(inv.seller_bank, 36, 117.9, 82.5)]
    refs["Note"] = [page.text(inv.note, 125.5, 105, 79)] if inv.note else []
    refs["Payee"] = [page.text(inv.payee, 22, 124.2, 30)]
    refs["Checker"] = [page.text(inv.checker, 74, 124.2, 30)]
    refs["InvoiceClerk"] = [page.text(inv.clerk, 121, 124.2, 30)]
    page_id = 1
    layer_id = page.next_id
    attach_id = layer_id + 1
    max_id = attach_id

    content = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<ofd:Page xmlns:ofd="{OFD_NS}"><ofd:Content><ofd:Layer ID="{layer_id}">'
        + "".join(page.objects) + "</ofd:Layer></ofd:Content></ofd:Page>")

    def tag(name: str, ids: list[int]) -> str:
        inner = "".join(f'<fp:ObjectRef PageRef="{page_id}">{i}</fp:ObjectRef>' for i in ids)
        return f"<fp:{name}>{inner}</fp:{name}>"

    goods_xml = "".join(
        "<fp:GoodsInfo>" + "".join(tag(k, v) for k, v in g.items() if v) + "</fp:GoodsInfo>"
        for g in goods)
    custom_tag = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<fp:eInvoice xmlns:fp="{FP_NS}" version="1.0">'
        + tag("InvoiceCode", refs["InvoiceCode"])
        + "<fp:Buyer>" + tag("BuyerName", refs["BuyerName"]) + tag("BuyerTaxID", refs["BuyerTaxID"]) + "</fp:Buyer>"
        + "<fp:Seller>" + "".join(tag(k, refs[k]) for k in
                                 ("SellerName", "SellerTaxID", "SellerAddrTel", "SellerFinancialAccount"))
        + "</fp:Seller>"
        + "".join(tag(k, refs[k]) for k in ("InvoiceNo", "MachineNo", "InvoiceClerk", "InvoiceCheckCode",
                                            "IssueDate", "TaxInclusiveTotalAmount",
                                            "TaxExclusiveTotalAmount", "TaxTotalAmount", "Payee", "Checker"))
        + (tag("Note", refs["Note"]) if refs["Note"] else "")
        + f"<fp:GoodsInfos>{goods_xml}</fp:GoodsInfos></fp:eInvoice>")

    graph = ",".join(["01", "10", inv.code, inv.number, _money(inv.amount_excl_tax),
                      inv.issue_date.strftime("%Y%m%d"), inv.check_code, "0000", ""])

    def e(name: str, value: str) -> str:
        return f"<fp:{name}>{escape(value)}</fp:{name}>"

    lines_xml = "".join(
        "<fp:GoodsInfo>" + e("Item", ln.name) + e("Specification", ln.spec)
        + e("MeasurementDimension", ln.unit) + e("Price", f"{ln.price}")
        + e("Quantity", f"{ln.quantity.normalize():f}") + e("Amount", _money(ln.amount))
        + e("TaxScheme", _rate(ln.tax_rate)) + e("TaxAmount", _money(ln.tax)) + "</fp:GoodsInfo>"
        for ln in inv.lines)
    original = (
        '<?xml version="1.0" encoding="utf-8"?>\n'
        f'<eInvoice xmlns:fp="{FP_NS}" Version="1.0">'
        + e("DocID", "01") + e("InvoiceCode", inv.code) + e("InvoiceNo", inv.number)
        + e("TypeCode", "0") + e("IssueDate", date_cn) + e("InvoiceCheckCode", inv.check_code)
        + e("MachineNo", inv.machine_no)
        + "<fp:Buyer>" + e("BuyerName", inv.buyer_name) + e("BuyerTaxID", inv.buyer_tax_id)
        + e("BuyerAddrTel", inv.buyer_addr_tel) + e("BuyerFinancialAccount", inv.buyer_bank) + "</fp:Buyer>"
        + "<fp:Seller>" + e("SellerName", inv.seller_name) + e("SellerTaxID", inv.seller_tax_id)
        + e("SellerAddrTel", inv.seller_addr_tel) + e("SellerFinancialAccount", inv.seller_bank)
        + "</fp:Seller>"
        + e("TaxInclusiveTotalAmount", _money(inv.total)) + e("Note", inv.note)
        + e("InvoiceClerk", inv.clerk) + e("Payee", inv.payee) + e("Checker", inv.checker)
        + e("TaxTotalAmount", _money(inv.tax)) + e("TaxExclusiveTotalAmount", _money(inv.amount_excl_tax))
        + e("GraphCode", graph) + f"<fp:GoodsInfos>{lines_xml}</fp:GoodsInfos></eInvoice>")

    custom_datas = {
        "发票代码": inv.code, "发票号码": inv.number, "合计税额": _money(inv.tax),
        "合计金额": _money(inv.amount_excl_tax), "开票日期": date_cn, "校验码": check_grouped,
        "购买方纳税人识别号": inv.buyer_tax_id, "销售方纳税人识别号": inv.seller_tax_id,
    }
    ofd_xml = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<ofd:OFD xmlns:ofd="{OFD_NS}" DocType="OFD" Version="1.1"><ofd:DocBody><ofd:DocInfo>'
        f"<ofd:DocID>{doc_id}</ofd:DocID><ofd:Author>invoice-archive synth</ofd:Author>"
        f"<ofd:CreationDate>{inv.issue_date.isoformat()}</ofd:CreationDate><ofd:CustomDatas>"
        + "".join(f"<ofd:CustomData Name={quoteattr(k)}>{escape(v)}</ofd:CustomData>"
                  for k, v in custom_datas.items())
        + "</ofd:CustomDatas></ofd:DocInfo><ofd:DocRoot>Doc_0/Document.xml</ofd:DocRoot>"
        "</ofd:DocBody></ofd:OFD>")
    document = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<ofd:Document xmlns:ofd="{OFD_NS}"><ofd:CommonData><ofd:MaxUnitID>{max_id}</ofd:MaxUnitID>'
        "<ofd:PageArea><ofd:PhysicalBox>0 0 210 140</ofd:PhysicalBox></ofd:PageArea>"
        "<ofd:PublicRes>PublicRes.xml</ofd:PublicRes></ofd:CommonData>"
        f'<ofd:Pages><ofd:Page ID="{page_id}" BaseLoc="Pages/Page_0/Content.xml"/></ofd:Pages>'
        "<ofd:Attachments>Attachs/Attachments.xml</ofd:Attachments>"
        "<ofd:CustomTags>Tags/CustomTags.xml</ofd:CustomTags></ofd:Document>")
    public_res = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<ofd:Res xmlns:ofd="{OFD_NS}" BaseLoc="Res"><ofd:Fonts>'
        '<ofd:Font ID="2" FontName="楷体" FamilyName="楷体"/>'
        '<ofd:Font ID="3" FontName="宋体" FamilyName="宋体"/></ofd:Fonts></ofd:Res>')
    custom_tags = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<ofd:CustomTags xmlns:ofd="{OFD_NS}"><ofd:CustomTag TypeID="">'
        "<ofd:FileLoc>CustomTag.xml</ofd:FileLoc></ofd:CustomTag></ofd:CustomTags>")
    attachments = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<ofd:Attachments xmlns:ofd="{OFD_NS}"><ofd:Attachment ID="{attach_id}" '
        f'Name="original_invoice" Format="xml" CreationDate="{inv.issue_date.isoformat()}T00:00:00" '
        f'Size="{len(original.encode()) / 1024:.4f}" Visible="false">'
        "<ofd:FileLoc>original_invoice.xml</ofd:FileLoc></ofd:Attachment></ofd:Attachments>")

    members = {
        "OFD.xml": ofd_xml,
        "Doc_0/Document.xml": document,
        "Doc_0/PublicRes.xml": public_res,
        "Doc_0/Pages/Page_0/Content.xml": content,
        "Doc_0/Tags/CustomTags.xml": custom_tags,
        "Doc_0/Tags/CustomTag.xml": custom_tag,
        "Doc_0/Attachs/Attachments.xml": attachments,
        "Doc_0/Attachs/original_invoice.xml": original,
    }
    return write_zip({k: v.encode("utf-8") for k, v in members.items()})


def write_zip(members: Mapping[str, bytes]) -> bytes:
    """Deterministic zip (fixed timestamps, member order as given)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in members.items():
            info = zipfile.ZipInfo(name, FIXED_ZIP_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            z.writestr(info, data)
    return buf.getvalue()
