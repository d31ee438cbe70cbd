"""Display list -> SVG (for the web).  Text stays text (searchable, selectable),
with a CJK font-family fallback list; the viewBox is the page in millimetres."""
from __future__ import annotations

import base64
import re
import xml.etree.ElementTree as ET
from xml.sax.saxutils import escape, quoteattr

from .page import IDENTITY, Image, Matrix, Page, Path, Text, apply, multiply

SVG_NS = "http://www.w3.org/2000/svg"

_SERIF = ["SimSun", "宋体", "Songti SC", "STSong", "Noto Serif CJK SC", "Source Han Serif SC", "serif"]
_KAI = ["KaiTi", "楷体", "STKaiti", "Kaiti SC", "AR PL UKai CN", "Noto Serif CJK SC", "serif"]
_HEI = ["SimHei", "黑体", "Heiti SC", "PingFang SC", "Microsoft YaHei", "Noto Sans CJK SC",
        "Source Han Sans SC", "sans-serif"]
_FANGSONG = ["FangSong", "仿宋", "STFangsong", "Noto Serif CJK SC", "serif"]
_MONO = ["Courier New", "Courier", "Noto Sans Mono CJK SC", "monospace"]


def font_family(name: str | None) -> str:
    """A CSS font-family list: the OFD font name first, then CJK fallbacks."""
    name = (name or "").strip()
    low = name.lower()
    if "楷" in name or "kai" in low:
        chain = _KAI
    elif "仿宋" in name or "fangsong" in low:
        chain = _FANGSONG
    elif "黑" in name or "hei" in low or "yahei" in low or "雅黑" in name:
        chain = _HEI
    elif "courier" in low or "mono" in low:
        chain = _MONO
    else:
        chain = _SERIF
    names = ([name] if name and name not in chain else []) + chain
    return ", ".join(n if n in {"serif", "sans-serif", "monospace"} else f"'{n}'" for n in names)


def _num(v: float) -> str:
    s = f"{v:.3f}".rstrip("0").rstrip(".")
    return "0" if s in {"-0", ""} else s


def _matrix_attr(m: Matrix) -> str:
    if m == IDENTITY:
        return ""
    return f' transform="matrix({" ".join(_num(v) for v in m)})"'


def _color(c) -> str:
    return "#%02x%02x%02x" % tuple(max(0, min(255, int(v))) for v in c)


def _clean(text: str) -> str:
    # characters XML 1.0 cannot carry
    return re.sub(r"[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]", "", text)


def page_svg(page: Page, *, title: str | None = None) -> str:
    out = [f'<svg xmlns="{SVG_NS}" xmlns:xlink="http://www.w3.org/1999/xlink" version="1.1" '
           f'width="{_num(page.width)}mm" height="{_num(page.height)}mm" '
           f'viewBox="0 0 {_num(page.width)} {_num(page.height)}">']
    if title:
        out.append(f"<title>{escape(_clean(title))}</title>")
    out.append(f'<rect x="0" y="0" width="{_num(page.width)}" height="{_num(page.height)}" fill="#ffffff"/>')
    for item in page.items:
        if isinstance(item, Text):
            out.append(_text(item))
        elif isinstance(item, Path):
            out.append(_path(item))
        elif isinstance(item, Image):
            out.append(_image(item))
    for note in page.notes:
        out.append(f"<!-- {escape(_clean(note)).replace('--', '- -')} -->")
    out.append("</svg>")
    return "\n".join(out)


def _text(t: Text) -> str:
    text = _clean(t.text)
    if not text.strip():
        return ""
    attrs = [f'font-size="{_num(t.size)}"', f"font-family={quoteattr(font_family(t.font))}"]
    if t.color != (0, 0, 0):
        attrs.append(f'fill="{_color(t.color)}"')
    if t.bold:
        attrs.append('font-weight="bold"')
    if t.anchor != "start":
        attrs.append(f'text-anchor="{t.anchor}"')
    if t.object_id:
        attrs.append(f"data-ofd-id={quoteattr(t.object_id)}")
    n = len(text)
    xs, ys = t.xs[:n], t.ys[:n]
    if len(xs) > 1 and len(set(ys)) == 1:
        pos = f'x="{" ".join(_num(x) for x in xs)}" y="{_num(ys[0])}"'
    elif len(xs) > 1:
        pos = f'x="{" ".join(_num(x) for x in xs)}" y="{" ".join(_num(y) for y in ys)}"'
    else:
        pos = f'x="{_num(xs[0])}" y="{_num(ys[0])}"'
    return (f'<text {pos} {" ".join(attrs)} xml:space="preserve"{_matrix_attr(t.matrix)}>'
            f"{escape(text)}</text>")


def _path(p: Path) -> str:
    parts = []
    for op in p.ops:
        parts.append(op[0] + " ".join(_num(v) for v in op[1:]))
    if not parts:
        return ""
    fill = _color(p.fill) if p.fill is not None else "none"
    stroke = f' stroke="{_color(p.stroke)}" stroke-width="{_num(p.line_width)}"' if p.stroke is not None else ""
    return f'<path d="{" ".join(parts)}" fill="{fill}"{stroke}{_matrix_attr(p.matrix)}/>'


def _image(im: Image) -> str:
    b64 = base64.b64encode(im.data).decode("ascii")
    label = f" data-label={quoteattr(im.label)}" if im.label else ""
    # the image fills the unit square of its matrix
    return (f'<image x="0" y="0" width="1" height="1" preserveAspectRatio="none"{label} '
            f'xlink:href="data:{im.mime};base64,{b64}"{_matrix_attr(im.matrix)}/>')


def document_svg(pages: list[Page], *, title: str | None = None, gap: float = 5.0) -> str:
    """Several pages stacked vertically in one SVG (each page a nested <svg>)."""
    if len(pages) == 1:
        return page_svg(pages[0], title=title)
    width = max((p.width for p in pages), default=210.0)
    height = sum(p.height for p in pages) + gap * max(len(pages) - 1, 0)
    out = [f'<svg xmlns="{SVG_NS}" xmlns:xlink="http://www.w3.org/1999/xlink" version="1.1" '
           f'width="{_num(width)}mm" height="{_num(height)}mm" viewBox="0 0 {_num(width)} {_num(height)}">']
    if title:
        out.append(f"<title>{escape(_clean(title))}</title>")
    y = 0.0
    for p in pages:
        inner = page_svg(p).split("\n", 1)[1].rsplit("\n", 1)[0]
        out.append(f'<svg x="0" y="{_num(y)}" width="{_num(p.width)}" height="{_num(p.height)}" '
                   f'viewBox="0 0 {_num(p.width)} {_num(p.height)}">\n{inner}\n</svg>')
        y += p.height + gap
    out.append("</svg>")
    return "\n".join(out)


# --- reading positions back (tests, the offline verifier) ------------------------

_MATRIX_RE = re.compile(r"matrix\(([^)]*)\)")


def _parse_matrix(value: str | None) -> Matrix:
    if not value:
        return IDENTITY
    m = _MATRIX_RE.search(value)
    if not m:
        return IDENTITY
    nums = [float(v) for v in re.split(r"[\s,]+", m.group(1).strip()) if v]
    return tuple(nums) if len(nums) == 6 else IDENTITY  # type: ignore[return-value]


def _floats(value: str | None) -> list[float]:
    return [float(v) for v in re.split(r"[\s,]+", (value or "").strip()) if v]


def text_positions(svg: str) -> list[tuple[str, float, float, float]]:
    """(text, x, y, font size) of every <text> in page millimetres: the first
    glyph's baseline origin after the element's transform (nested <svg> pages
    are offset by their y)."""
    root = ET.fromstring(svg)
    found: list[tuple[str, float, float, float]] = []

    def walk(el: ET.Element, base: Matrix) -> None:
        tag = el.tag.rpartition("}")[2]
        m = base
        if tag == "svg" and el is not root:
            m = multiply((1, 0, 0, 1, float(el.get("x") or 0), float(el.get("y") or 0)), base)
        m = multiply(_parse_matrix(el.get("transform")), m)
        if tag == "text":
            xs, ys = _floats(el.get("x")), _floats(el.get("y"))
            x, y = apply(m, xs[0] if xs else 0.0, ys[0] if ys else 0.0)
            size = float(el.get("font-size") or 0) * (abs(m[0] * m[3] - m[1] * m[2]) ** 0.5)
            found.append(("".join(el.itertext()), x, y, size))
            return
        for child in el:
            walk(child, m)

    walk(root, IDENTITY)
    return found
