"""Reading an invoice from its printed page (docs/formats.md, "Page-only invoices").

Some OFD invoices carry no structured record at all: no attachment, no custom
tag tree, no metadata. An old 增值税电子普通发票 may have its fields only as
TextObjects placed on the standard invoice form. Others have a tag tree that
leaves a field out (the tax, the lines). This module reads the page by the
positions of the standard 增值税电子发票 form (210 × 140 mm; the same positions
the project's synthetic invoices use, see ``synth/ofd.py``). Every value must
also have the shape of its field (a 12-digit code, an 8-digit number, a date,
an amount), or it is not taken.

What comes from here is marked with provenance ``ofd:page`` and is shown
with low confidence: layout reading cannot tell a misplaced value from a
right one the way a structured record can.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from . import normalize as norm
from .limits import Limits
from .lines import line_from_cells
from .merge import Draft
from .model import LineItem
from .xmlsafe import local, parse

SOURCE = "ofd:page"

# Zones of the standard 增值税电子发票 form, in mm from the page's top left:
# (field, x from, x to, y from, y to), tested on a TextObject's Boundary origin.
_HEADER_ZONES = (
    ("code", 140, 211, 4.0, 9.5),
    ("number", 140, 211, 9.5, 15.0),
    ("issue_date", 140, 211, 15.0, 20.5),
    ("check_code", 140, 211, 20.5, 27.0),
    ("machine_number", 15, 60, 22.0, 28.0),
    ("buyer_name", 30, 120, 28.0, 33.5),
    ("buyer_tax_id", 30, 120, 33.5, 39.0),
    ("buyer_address_phone", 30, 120, 39.0, 44.5),
    ("buyer_bank_account", 30, 120, 44.5, 51.0),
    ("seller_name", 30, 120, 102.0, 106.5),
    ("seller_tax_id", 30, 120, 106.5, 110.8),
    ("seller_address_phone", 30, 120, 110.8, 115.5),
    ("seller_bank_account", 30, 120, 115.5, 123.0),
    ("remarks", 120, 211, 102.0, 123.0),
    ("payee", 10, 60, 122.0, 130.0),
    ("checker", 60, 110, 122.0, 130.0),
    ("clerk", 110, 211, 122.0, 130.0),
)
# Totals, tested on the TextObject's horizontal centre (the ¥ sign and the
# number are often two objects with one boundary).
_TOTAL_ZONES = (
    ("amount_excl_tax", 120, 165, 88.0, 94.5),
    ("tax", 165, 211, 88.0, 94.5),
    ("total_in_words", 40, 150, 94.5, 102.0),
    ("total", 150, 211, 94.5, 102.0),
)
_LINES_Y = (54.0, 88.0)
# Line-item columns by horizontal centre; the boundaries are the midpoints
# between the column headings printed on the form's template.
_COLUMNS = (
    ("Item", 0, 57), ("Specification", 57, 80), ("MeasurementDimension", 80, 96),
    ("Quantity", 96, 114), ("Price", 114, 137), ("Amount", 137, 160),
    ("TaxScheme", 160, 180), ("TaxAmount", 180, 211),
)
_ROW_TOLERANCE = 1.0

_SHAPES = {
    "code": re.compile(r"\d{10,12}"),
    "number": re.compile(r"\d{8}|\d{20}"),
    "check_code": re.compile(r"\d{20}"),
    "machine_number": re.compile(r"\d{8,15}"),
    "buyer_tax_id": re.compile(r"[0-9A-Z]{15,20}"),
    "seller_tax_id": re.compile(r"[0-9A-Z]{15,20}"),
}
_IDENTS = frozenset(_SHAPES)
_MONEY = frozenset({"amount_excl_tax", "tax", "total"})
_MAX_OBJECTS = 5000


@dataclass(frozen=True, slots=True)
class TextBox:
    text: str
    x: float
    y: float
    w: float
    h: float

    @property
    def cx(self) -> float:
        return self.x + self.w / 2


def text_boxes(data: bytes, member: str, limits: Limits | None = None) -> list[TextBox]:
    """The page's TextObjects with their boundaries (mm), in document order."""
    root = parse(data, member, limits)
    boxes: list[TextBox] = []
    for el in root.iter():
        if local(el.tag) != "TextObject":
            continue
        parts = [(code.text or "") for code in el.iter() if local(code.tag) == "TextCode"]
        text = "".join(parts).strip()
        if not text:
            continue
        try:
            x, y, w, h = (float(v) for v in (el.get("Boundary") or "").split()[:4])
        except ValueError:
            continue
        boxes.append(TextBox(text, x, y, w, h))
        if len(boxes) >= _MAX_OBJECTS:
            break
    return boxes


def _in(value: float, lo: float, hi: float) -> bool:
    return lo <= value < hi


def read_page(boxes: list[TextBox]) -> Draft | None:
    """A draft of what the standard invoice form shows, or None when the page
    does not look like one (no invoice number and date in their places)."""
    d = Draft(SOURCE)
    found: dict[str, list[TextBox]] = {}
    for box in boxes:
        for name, x0, x1, y0, y1 in _HEADER_ZONES:
            if _in(box.x, x0, x1) and _in(box.y, y0, y1):
                found.setdefault(name, []).append(box)
                break
        else:
            for name, x0, x1, y0, y1 in _TOTAL_ZONES:
                if _in(box.cx, x0, x1) and _in(box.y, y0, y1):
                    found.setdefault(name, []).append(box)
                    break
    for name, group in found.items():
        text = ("\n" if name == "remarks" else "").join(b.text for b in group)
        d.set(name, _value(name, text))
    if "number" not in d.fields or "issue_date" not in d.fields:
        return None
    d.lines = _lines([b for b in boxes if _in(b.y, *_LINES_Y)]) or None
    return d


def _value(name: str, text: str):
    if name in _IDENTS:
        value = norm.ident(text)
        return value if value and _SHAPES[name].fullmatch(value) else None
    if name == "issue_date":
        return norm.date(text)
    if name in _MONEY:
        return norm.amount(text)
    return norm.text(text)


def _lines(boxes: list[TextBox]) -> list[LineItem]:
    """Rows anchored on the amount column; a name wrapped onto the next line
    (an item cell without an amount beside it) joins the row above."""
    cells: dict[str, list[TextBox]] = {}
    for box in boxes:
        for name, x0, x1 in _COLUMNS:
            if _in(box.cx if name != "Item" else box.x, x0, x1):
                cells.setdefault(name, []).append(box)
                break
    anchors = sorted({round(b.y, 1) for b in cells.get("Amount", []) if norm.amount(b.text) is not None})
    if not anchors:
        return []
    rows: list[dict[str, list[str]]] = [{} for _ in anchors]
    for name, group in cells.items():
        for box in sorted(group, key=lambda b: b.y):
            index = 0
            for i, anchor in enumerate(anchors):
                if box.y + _ROW_TOLERANCE >= anchor:
                    index = i
            rows[index].setdefault(name, []).append(box.text)
    return [line_from_cells({k: "".join(v) for k, v in row.items()}) for row in rows]
