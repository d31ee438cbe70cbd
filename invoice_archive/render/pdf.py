"""Display list -> PDF with reportlab.

CJK text uses reportlab's built-in CID font ``STSong-Light`` (Adobe-GB1, no font
file needed: PDF readers supply the glyphs), so the text stays text: a PDF
reader, pypdf or an auditor's search finds the invoice number and amounts.
"""
from __future__ import annotations

import io
import logging

from reportlab.lib.utils import ImageReader
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.cidfonts import UnicodeCIDFont
from reportlab.pdfgen import canvas as _canvas

from .page import IDENTITY, Image, Page, Path, Text

log = logging.getLogger(__name__)

CJK_FONT = "STSong-Light"
MM = 72.0 / 25.4
_registered = False


def _font() -> str:
    global _registered
    if not _registered:
        pdfmetrics.registerFont(UnicodeCIDFont(CJK_FONT))
        _registered = True
    return CJK_FONT


def _safe_text(text: str) -> str:
    # outside the BMP the UCS-2 CMap of the CID font cannot encode
    return "".join(ch if ord(ch) < 0x10000 and (ch >= " " or ch == "\t") else " " for ch in text)


def pages_pdf(pages: list[Page], *, title: str | None = None, subject: str | None = None) -> bytes:
    font = _font()
    buf = io.BytesIO()
    c = _canvas.Canvas(buf, pageCompression=1, invariant=1)
    if title:
        c.setTitle(title)
    if subject:
        c.setSubject(subject)
    c.setCreator("invoice-archive rendition")
    if not pages:
        pages = [Page(210.0, 297.0)]
    for page in pages:
        c.setPageSize((page.width * MM, page.height * MM))
        c.saveState()
        # millimetres, origin top-left, y downwards (as OFD)
        c.transform(MM, 0, 0, -MM, 0, page.height * MM)
        for item in page.items:
            try:
                if isinstance(item, Text):
                    _text(c, item, font)
                elif isinstance(item, Path):
                    _path(c, item)
                elif isinstance(item, Image):
                    _image(c, item)
            except Exception as exc:  # one bad object must not lose the page
                log.debug("rendition: object skipped: %s", exc)
        c.restoreState()
        c.showPage()
    c.save()
    return buf.getvalue()


def _text(c: _canvas.Canvas, t: Text, font: str) -> None:
    text = _safe_text(t.text)
    if not text.strip() or t.size <= 0:
        return
    c.saveState()
    if t.matrix != IDENTITY:
        c.transform(*t.matrix)
    c.setFillColorRGB(*(v / 255.0 for v in t.color))
    n = len(text)
    xs, ys = list(t.xs[:n]), list(t.ys[:n])
    # one text run per baseline; inside it the glyph advance is stretched so the
    # first and last glyph land where the source put them
    known = min(n, len(xs), len(ys)) or 1
    if not xs or not ys:
        xs, ys = [0.0], [0.0]
    runs: list[tuple[int, int]] = []
    start = 0
    for i in range(1, n + 1):
        if i == n:
            runs.append((start, n))
        elif i < known and (ys[i] != ys[start] or xs[i] < xs[i - 1]):
            runs.append((start, i))
            start = i
    for a, b in runs:
        chunk = text[a:b]
        x0, y0 = xs[a], ys[a]
        if t.anchor != "start":
            width = pdfmetrics.stringWidth(chunk, font, t.size)
            x0 -= width if t.anchor == "end" else width / 2
        char_space = 0.0
        last = min(b, known) - 1
        if last > a:
            natural = pdfmetrics.stringWidth(chunk[: last - a], font, t.size)
            char_space = ((xs[last] - xs[a]) - natural) / (last - a)
        c.saveState()
        c.translate(x0, y0)
        c.scale(1, -1)
        obj = c.beginText(0, 0)
        obj.setFont(font, t.size)
        if char_space:
            obj.setCharSpace(char_space)
        obj.textOut(chunk)
        c.drawText(obj)
        c.restoreState()
    c.restoreState()


def _path(c: _canvas.Canvas, p: Path) -> None:
    if not p.ops:
        return
    c.saveState()
    if p.matrix != IDENTITY:
        c.transform(*p.matrix)
    path = c.beginPath()
    cur = (0.0, 0.0)
    for op in p.ops:
        kind = op[0]
        if kind == "M":
            path.moveTo(op[1], op[2])
            cur = (op[1], op[2])
        elif kind == "L":
            path.lineTo(op[1], op[2])
            cur = (op[1], op[2])
        elif kind == "C":
            path.curveTo(*op[1:7])
            cur = (op[5], op[6])
        elif kind == "Q":
            (x0, y0), (x1, y1), (x, y) = cur, (op[1], op[2]), (op[3], op[4])
            path.curveTo(x0 + 2 / 3 * (x1 - x0), y0 + 2 / 3 * (y1 - y0),
                         x + 2 / 3 * (x1 - x), y + 2 / 3 * (y1 - y), x, y)
            cur = (x, y)
        elif kind == "Z":
            path.close()
    if p.stroke is not None:
        c.setStrokeColorRGB(*(v / 255.0 for v in p.stroke))
        c.setLineWidth(max(p.line_width, 0.05))
    if p.fill is not None:
        c.setFillColorRGB(*(v / 255.0 for v in p.fill))
    c.drawPath(path, stroke=1 if p.stroke is not None else 0, fill=1 if p.fill is not None else 0)
    c.restoreState()


def _image(c: _canvas.Canvas, im: Image) -> None:
    reader = ImageReader(io.BytesIO(im.data))
    c.saveState()
    if im.matrix != IDENTITY:
        c.transform(*im.matrix)
    c.translate(0, 1)
    c.scale(1, -1)
    c.drawImage(reader, 0, 0, 1, 1, mask="auto")
    c.restoreState()
