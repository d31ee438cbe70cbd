"""The standard invoice layout, drawn from an :class:`InvoiceDocument`.

Used for e-invoices that carry no page of their own (数电票 XML) and as the
fallback when an OFD's pages cannot be drawn.  The layout follows the printed
全电发票 form: title, number and date at the top right, buyer and seller blocks,
the line-item table, totals, the amount in words, remarks and the drawer.
"""
from __future__ import annotations

import datetime as _dt
from decimal import Decimal

from invoice_archive.formats import KIND_LABELS, InvoiceDocument

from .page import Page, Path, Text, line, rect

RED = (150, 40, 30)
BROWN = (120, 80, 40)
WIDTH = 210.0
_COLS = [  # (label, x, width, align)
    ("项目名称", 12.0, 50.0, "start"),
    ("规格型号", 62.0, 20.0, "start"),
    ("单位", 82.0, 12.0, "middle"),
    ("数量", 94.0, 16.0, "end"),
    ("单价", 110.0, 22.0, "end"),
    ("金额", 132.0, 22.0, "end"),
    ("税率/征收率", 154.0, 18.0, "middle"),
    ("税额", 172.0, 26.0, "end"),
]
_LINE_H = 4.6


def text_width(text: str, size: float) -> float:
    """Advance width in mm of ``text`` at ``size`` mm in the rendition font."""
    from reportlab.pdfbase import pdfmetrics

    from .pdf import _font

    return pdfmetrics.stringWidth(text, _font(), size)


def _wrap(text: str, width: float, size: float) -> list[str]:
    lines, cur = [], ""
    for ch in text:
        if cur and text_width(cur + ch, size) > width:
            lines.append(cur)
            cur = ch
        else:
            cur += ch
    if cur:
        lines.append(cur)
    return lines or [""]


def _t(items: list, text: str | None, x: float, y: float, size: float = 3.0, *, color=(0, 0, 0),
       anchor: str = "start", bold: bool = False, font: str = "宋体") -> None:
    if text:
        items.append(Text(str(text), [x], [y], size, font=font, color=color, anchor=anchor, bold=bold))


def _money(v: Decimal | None) -> str:
    return "" if v is None else f"{v:.2f}"


def _num(v: Decimal | None) -> str:
    if v is None:
        return ""
    s = f"{v:f}"
    return s.rstrip("0").rstrip(".") if "." in s else s


def _rate(line_item) -> str:
    if line_item.tax_rate_text and not line_item.tax_rate_text.replace(".", "").isdigit():
        return line_item.tax_rate_text
    if line_item.tax_rate is None:
        return line_item.tax_rate_text or ""
    return f"{(line_item.tax_rate * 100).normalize():f}%"


def date_cn(d: _dt.date | None) -> str:
    return "" if d is None else f"{d.year}年{d.month:02d}月{d.day:02d}日"


def amount_in_words(value: Decimal | None) -> str:
    """Upper-case RMB amount (圆 as printed on invoices), via cn2an."""
    if value is None:
        return ""
    from invoice_archive.rules.words import rmb_words

    return ("（负数）" if value < 0 else "") + rmb_words(abs(value))


def layout_document(doc: InvoiceDocument) -> list[Page]:
    """One page (taller when there are many lines) in the standard layout."""
    rows: list[list[str]] = []
    wrapped: list[list[list[str]]] = []
    for ln in doc.lines:
        cells = [ln.name or "", ln.specification or "", ln.unit or "", _num(ln.quantity),
                 _num(ln.unit_price), _money(ln.amount), _rate(ln), _money(ln.tax)]
        rows.append(cells)
        wrapped.append([_wrap(c, w - 1.0, 2.6) if i < 2 else [c] for i, (c, (_l, _x, w, _a)) in
                        enumerate(zip(cells, _COLS))])
    body_lines = sum(max(len(c) for c in w) for w in wrapped) or 1
    table_h = max(40.0, 8.0 + body_lines * _LINE_H + 8.0)
    height = 140.0 + max(0.0, table_h - 40.0)
    items: list = []
    page = Page(WIDTH, height, items)

    title = KIND_LABELS.get(doc.kind, "电子发票")
    if doc.is_red:
        title += "（红字）"
    _t(items, title, WIDTH / 2, 16, 6.0, color=RED, anchor="middle", bold=True)
    items.append(Path(line(70, 19, 140, 19), stroke=RED, line_width=0.4))
    items.append(Path(line(70, 20.2, 140, 20.2), stroke=RED, line_width=0.4))
    y = 12.0
    for label, value in (("发票代码：", doc.code), ("发票号码：", doc.number),
                         ("开票日期：", date_cn(doc.issue_date)), ("校验码：", doc.check_code)):
        if value:
            _t(items, label, 148, y, 3.0, color=BROWN)
            _t(items, value, 166, y, 3.0)
            y += 5.0

    # buyer / seller blocks
    top, block_h = 30.0, 24.0
    items.append(Path(rect(10, top, 190, block_h + table_h + 24), stroke=BROWN, line_width=0.4))
    items.append(Path(line(105, top, 105, top + block_h), stroke=BROWN, line_width=0.3))
    items.append(Path(line(10, top + block_h, 200, top + block_h), stroke=BROWN, line_width=0.3))
    for x, head, party in ((12.0, "购买方信息", doc.buyer), (107.0, "销售方信息", doc.seller)):
        _t(items, head, x, top + 5, 3.0, color=BROWN, bold=True)
        fields = (("名称：", party.name), ("统一社会信用代码/纳税人识别号：", party.tax_id),
                  ("地址、电话：", party.address_phone), ("开户行及账号：", party.bank_account))
        yy = top + 10
        for label, value in fields:
            if value or label == "名称：":
                _t(items, label, x, yy, 2.6, color=BROWN)
                lx = x + text_width(label, 2.6) + 0.5
                for part in _wrap(value or "", 103 - (lx - x) - 3, 2.6)[:2]:
                    _t(items, part, lx, yy, 2.6)
                    yy += 3.6
                if not value:
                    yy += 3.6

    # line items
    ty = top + block_h
    for label, x, w, align in _COLS:
        ax = x if align == "start" else x + w / 2 if align == "middle" else x + w - 1
        _t(items, label, ax, ty + 5, 2.8, color=BROWN, anchor=align)
    yy = ty + 10
    for cells in wrapped:
        n = max(len(c) for c in cells)
        for (label, x, w, align), parts in zip(_COLS, cells):
            ax = x if align == "start" else x + w / 2 if align == "middle" else x + w - 1
            for k, part in enumerate(parts):
                _t(items, part, ax, yy + k * _LINE_H, 2.6, anchor=align)
        yy += n * _LINE_H
    sy = ty + table_h - 4
    _t(items, "合计", 30, sy, 3.0, color=BROWN, anchor="middle")
    _t(items, f"¥{_money(doc.amount_excl_tax)}" if doc.amount_excl_tax is not None else "",
       153, sy, 2.8, anchor="end")
    _t(items, f"¥{_money(doc.tax)}" if doc.tax is not None else "", 197, sy, 2.8, anchor="end")

    # totals
    vy = ty + table_h
    items.append(Path(line(10, vy, 200, vy), stroke=BROWN, line_width=0.3))
    items.append(Path(line(10, vy + 10, 200, vy + 10), stroke=BROWN, line_width=0.3))
    _t(items, "价税合计（大写）", 12, vy + 6.5, 3.0, color=BROWN)
    _t(items, doc.total_in_words or amount_in_words(doc.total), 45, vy + 6.5, 3.0)
    _t(items, "（小写）", 140, vy + 6.5, 3.0, color=BROWN)
    if doc.total is not None:
        _t(items, f"¥{_money(doc.total)}", 155, vy + 6.5, 3.0)
    _t(items, "备注", 12, vy + 15.5, 3.0, color=BROWN)
    remark_lines = _wrap(doc.remarks or "", 170, 2.6)[:3]
    if doc.original_number:
        remark_lines.insert(0, f"被红冲蓝字发票号码：{doc.original_number}")
    for k, part in enumerate(remark_lines[:3]):
        _t(items, part, 25, vy + 15.5 + k * 3.6, 2.6)
    foot = vy + 30
    _t(items, "开票人：", 14, foot, 3.0, color=BROWN)
    _t(items, doc.clerk or "", 28, foot, 3.0)
    if doc.payee:
        _t(items, "收款人：", 80, foot, 3.0, color=BROWN)
        _t(items, doc.payee, 94, foot, 3.0)
    if doc.checker:
        _t(items, "复核：", 130, foot, 3.0, color=BROWN)
        _t(items, doc.checker, 142, foot, 3.0)
    return [page]
