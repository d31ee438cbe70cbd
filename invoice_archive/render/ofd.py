"""OFD (GB/T 33190) pages -> display list.

Follows the package from ``OFD.xml`` (DocRoot, Signatures) to ``Document.xml``
(CommonData: PageArea, TemplatePage, PublicRes, DocumentRes; Pages;
Annotations), then draws each page: background templates, the page's layers
(TextObject, PathObject, ImageObject, PageBlock), foreground templates, the
Annots layer (stamp appearances) and the seal pictures of the signatures
(SES ``SES_ESPictrueInfo``: PNG/JPEG, or a small OFD drawn recursively) at
their ``StampAnnot`` boundaries.

Object geometry: an object's own coordinates go through its CTM, then are
offset by its Boundary's origin.  Glyph i of a TextCode sits at
``X + sum(DeltaX[:i])``, ``Y + sum(DeltaY[:i])`` (``g n v`` repeats v n times).

Every element is drawn inside its own guard: a broken or unusual package
draws what it can and records what it skipped in ``Page.notes``; nothing here
raises to the caller.
"""
from __future__ import annotations

import logging
import math
import posixpath
import re
from typing import Iterable, Mapping

from invoice_archive.formats.xmlsafe import Element, attr, find, findall, local, parse, text_of

from .page import IDENTITY, Image, Matrix, Page, Path, Text, multiply, sniff_image, translate

log = logging.getLogger(__name__)
A4 = (210.0, 297.0)
_MAX_OBJECTS = 50_000
_MAX_DEPTH = 16


# --- small parsers ------------------------------------------------------------

def _floats(value: str | None) -> list[float]:
    out = []
    for tok in (value or "").replace(",", " ").split():
        try:
            out.append(float(tok))
        except ValueError:
            pass
    return out


def parse_deltas(value: str | None) -> list[float]:
    """``"g 3 2.5 1.2"`` -> [2.5, 2.5, 2.5, 1.2]."""
    toks = (value or "").split()
    out: list[float] = []
    i = 0
    while i < len(toks):
        if toks[i] == "g" and i + 2 < len(toks):
            try:
                n, v = int(float(toks[i + 1])), float(toks[i + 2])
            except ValueError:
                break
            out.extend([v] * max(0, min(n, 10_000)))
            i += 3
        else:
            try:
                out.append(float(toks[i]))
            except ValueError:
                pass
            i += 1
    return out


def _box(value: str | None) -> tuple[float, float, float, float] | None:
    nums = _floats(value)
    return (nums[0], nums[1], nums[2], nums[3]) if len(nums) >= 4 else None


def _ctm(value: str | None) -> Matrix:
    nums = _floats(value)
    return tuple(nums[:6]) if len(nums) >= 6 else IDENTITY  # type: ignore[return-value]


def _color(el: Element | None) -> tuple[int, int, int] | None:
    if el is None:
        return None
    nums = _floats(attr(el, "Value"))
    if len(nums) >= 3:
        return (int(nums[0]), int(nums[1]), int(nums[2]))
    if len(nums) == 1:  # gray
        return (int(nums[0]),) * 3  # type: ignore[return-value]
    return None


def _bool(value: str | None, default: bool) -> bool:
    if value is None:
        return default
    return value.strip().lower() not in {"false", "0", "no"}


def _advance(ch: str, size: float) -> float:
    return size * (0.5 if ord(ch) < 0x2E80 else 1.0)


# --- path data -------------------------------------------------------------------

def parse_path(data: str | None) -> list[tuple]:
    """OFD AbbreviatedData -> display-list ops (arcs become line segments)."""
    toks = re.findall(r"[A-Za-z]|[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?", data or "")
    ops: list[tuple] = []
    i, cur, start = 0, (0.0, 0.0), (0.0, 0.0)
    need = {"S": 2, "M": 2, "L": 2, "Q": 4, "B": 6, "A": 7, "C": 0}

    def nums(n: int) -> list[float] | None:
        nonlocal i
        vals = toks[i:i + n]
        if len(vals) < n or any(v.isalpha() for v in vals):
            return None
        i += n
        return [float(v) for v in vals]

    cmd = None
    while i < len(toks):
        if toks[i].isalpha():
            cmd = toks[i]
            i += 1
            if cmd == "C":
                ops.append(("Z",))
                cur = start
                continue
        if cmd not in need:
            i += 1
            continue
        v = nums(need[cmd])
        if v is None:
            i += 1
            continue
        if cmd in ("S", "M"):
            ops.append(("M", v[0], v[1]))
            cur = start = (v[0], v[1])
        elif cmd == "L":
            ops.append(("L", v[0], v[1]))
            cur = (v[0], v[1])
        elif cmd == "Q":
            ops.append(("Q", *v))
            cur = (v[2], v[3])
        elif cmd == "B":
            ops.append(("C", *v))
            cur = (v[4], v[5])
        elif cmd == "A":
            ops.extend(("L", x, y) for x, y in _arc(cur, *v))
            cur = (v[5], v[6])
    return ops


def _arc(p0: tuple[float, float], rx: float, ry: float, angle: float, large: float, sweep: float,
         x: float, y: float) -> list[tuple[float, float]]:
    """Endpoint arc (as in SVG) approximated by line segments."""
    x0, y0 = p0
    if rx == 0 or ry == 0 or (x0, y0) == (x, y):
        return [(x, y)]
    rx, ry = abs(rx), abs(ry)
    phi = math.radians(angle)
    cp, sp = math.cos(phi), math.sin(phi)
    dx, dy = (x0 - x) / 2, (y0 - y) / 2
    x1, y1 = cp * dx + sp * dy, -sp * dx + cp * dy
    lam = (x1 * x1) / (rx * rx) + (y1 * y1) / (ry * ry)
    if lam > 1:
        rx, ry = rx * math.sqrt(lam), ry * math.sqrt(lam)
    num = rx * rx * ry * ry - rx * rx * y1 * y1 - ry * ry * x1 * x1
    den = rx * rx * y1 * y1 + ry * ry * x1 * x1
    coef = math.sqrt(max(0.0, num / den)) if den else 0.0
    if bool(large) == bool(sweep):
        coef = -coef
    cx1, cy1 = coef * rx * y1 / ry, -coef * ry * x1 / rx
    cx, cy = cp * cx1 - sp * cy1 + (x0 + x) / 2, sp * cx1 + cp * cy1 + (y0 + y) / 2

    def ang(ux: float, uy: float, vx: float, vy: float) -> float:
        return math.atan2(ux * vy - uy * vx, ux * vx + uy * vy)

    t1 = ang(1, 0, (x1 - cx1) / rx, (y1 - cy1) / ry)
    dt = ang((x1 - cx1) / rx, (y1 - cy1) / ry, (-x1 - cx1) / rx, (-y1 - cy1) / ry)
    if not sweep and dt > 0:
        dt -= 2 * math.pi
    elif sweep and dt < 0:
        dt += 2 * math.pi
    steps = max(4, int(abs(dt) / (math.pi / 16)))
    pts = []
    for k in range(1, steps + 1):
        t = t1 + dt * k / steps
        ex, ey = rx * math.cos(t), ry * math.sin(t)
        pts.append((cp * ex - sp * ey + cx, sp * ex + cp * ey + cy))
    pts[-1] = (x, y)
    return pts


# --- the package -------------------------------------------------------------------

class _Package:
    def __init__(self, members: Mapping[str, bytes]) -> None:
        self.members = members
        self._lower = {}
        for name in members:
            self._lower.setdefault(name.lstrip("/").lower(), name)
        self._xml: dict[str, Element | None] = {}
        self.notes: list[str] = []

    def get(self, path: str | None) -> bytes | None:
        if not path:
            return None
        key = self._lower.get(posixpath.normpath(path.lstrip("/")).lower())
        if key is None:
            return None
        try:
            return self.members[key]
        except Exception as exc:  # a member that cannot be inflated
            self.note(f"{path} 无法读取: {exc}")
            return None

    def exists(self, path: str | None) -> bool:
        return bool(path) and posixpath.normpath(path.lstrip("/")).lower() in self._lower

    def xml(self, path: str | None) -> Element | None:
        if not path:
            return None
        key = posixpath.normpath(path.lstrip("/")).lower()
        if key in self._xml:
            return self._xml[key]
        data = self.get(path)
        el = None
        if data is not None:
            try:
                el = parse(data, path)
            except Exception as exc:
                self.note(f"{path} 不是可读的 XML: {exc}")
        self._xml[key] = el
        return el

    def resolve(self, base_file: str, loc: str | None, *fallback_dirs: str) -> str | None:
        """A location as written in ``base_file``: absolute from the package root,
        else relative to that file's folder (then to ``fallback_dirs``)."""
        if not loc:
            return None
        loc = loc.strip().replace("\\", "/")
        if loc.startswith("/"):
            return posixpath.normpath(loc.lstrip("/"))
        cands = [posixpath.normpath(posixpath.join(posixpath.dirname(base_file), loc))]
        cands += [posixpath.normpath(posixpath.join(d, loc)) for d in fallback_dirs]
        cands.append(posixpath.normpath(loc))
        for c in cands:
            if self.exists(c):
                return c
        return cands[0]

    def note(self, text: str) -> None:
        if len(self.notes) < 200:
            self.notes.append(text)


class _Renderer:
    def __init__(self, members: Mapping[str, bytes], depth: int = 0) -> None:
        self.pkg = _Package(members)
        self.depth = depth
        self.fonts: dict[str, str] = {}
        self.media: dict[str, str] = {}
        self.draw_params: dict[str, Element] = {}
        self.templates: dict[str, str] = {}
        self.default_box = A4
        self.pages: list[tuple[str, str]] = []
        self.annots: dict[str, list[str]] = {}
        self.stamps: dict[str, list[tuple[tuple[float, float, float, float], list]]] = {}
        self.count = 0
        self.doc_file = "Doc_0/Document.xml"
        self.doc_dir = "Doc_0"
        self._load()

    # -- structure ------------------------------------------------------------
    def _load(self) -> None:
        pkg = self.pkg
        ofd = pkg.xml("OFD.xml")
        body = find(ofd, "DocBody")
        root_loc = text_of(find(body, "DocRoot")) if body is not None else None
        if root_loc:
            self.doc_file = pkg.resolve("OFD.xml", root_loc) or self.doc_file
        elif ofd is None:
            pkg.note("缺少 OFD.xml 或无法解析，按 Doc_0/Document.xml 尝试")
        self.doc_dir = posixpath.dirname(self.doc_file)
        doc = pkg.xml(self.doc_file)
        if doc is None:
            pkg.note(f"文档根 {self.doc_file} 无法读取")
            return
        common = find(doc, "CommonData")
        box = _box(text_of(find(find(common, "PageArea"), "PhysicalBox")))
        if box and box[2] > 0 and box[3] > 0:
            self.default_box = (box[2], box[3])
        for res_tag in ("PublicRes", "DocumentRes"):
            for el in findall(common, res_tag):
                self._load_res(pkg.resolve(self.doc_file, text_of(el)))
        for el in findall(common, "TemplatePage"):
            tid, loc = attr(el, "ID"), attr(el, "BaseLoc")
            if tid and loc:
                self.templates[tid] = pkg.resolve(self.doc_file, loc) or loc
        for el in findall(find(doc, "Pages"), "Page"):
            loc = pkg.resolve(self.doc_file, attr(el, "BaseLoc"))
            if loc:
                self.pages.append((attr(el, "ID") or "", loc))
        if not self.pages:
            pkg.note("Document.xml 未列出任何页面")
        self._load_annots(doc)
        try:
            self._load_stamps(body)
        except Exception as exc:
            pkg.note(f"签章外观无法读取: {exc}")

    def _load_res(self, path: str | None) -> None:
        res = self.pkg.xml(path)
        if res is None or path is None:
            return
        base = attr(res, "BaseLoc") or ""
        base_dir = posixpath.join(posixpath.dirname(path), base) if not base.startswith("/") else base
        for el in res.iter():
            tag = local(el.tag)
            if tag == "Font" and attr(el, "ID"):
                self.fonts[attr(el, "ID")] = attr(el, "FontName") or attr(el, "FamilyName") or ""
            elif tag == "MultiMedia" and attr(el, "ID"):
                loc = text_of(find(el, "MediaFile")) or attr(el, "BaseLoc")
                if loc:
                    loc = loc.strip()
                    full = (posixpath.normpath(loc.lstrip("/")) if loc.startswith("/")
                            else posixpath.normpath(posixpath.join(base_dir, loc)))
                    if not self.pkg.exists(full):
                        full = self.pkg.resolve(path, loc, self.doc_dir) or full
                    self.media[attr(el, "ID")] = full
            elif tag == "DrawParam" and attr(el, "ID"):
                self.draw_params[attr(el, "ID")] = el

    def _load_annots(self, doc: Element) -> None:
        loc = self.pkg.resolve(self.doc_file, text_of(find(doc, "Annotations")))
        index = self.pkg.xml(loc)
        if index is None or loc is None:
            return
        for el in findall(index, "Page"):
            page_id = attr(el, "PageID") or ""
            file_loc = self.pkg.resolve(loc, text_of(find(el, "FileLoc")), self.doc_dir)
            if file_loc:
                self.annots.setdefault(page_id, []).append(file_loc)

    def _load_stamps(self, body: Element | None) -> None:
        if body is None or self.depth > 0:
            return
        list_loc = self.pkg.resolve("OFD.xml", text_of(find(body, "Signatures")))
        sigs = self.pkg.xml(list_loc)
        if sigs is None or list_loc is None:
            return
        for el in findall(sigs, "Signature"):
            sig_loc = self.pkg.resolve(list_loc, attr(el, "BaseLoc"), self.doc_dir)
            sig = self.pkg.xml(sig_loc)
            if sig is None or sig_loc is None:
                continue
            signed_info = find(sig, "SignedInfo")
            value_loc = self.pkg.resolve(sig_loc, text_of(find(sig, "SignedValue")))
            picture = self._seal_picture(self.pkg.get(value_loc))
            for stamp in findall(signed_info, "StampAnnot"):
                box = _box(attr(stamp, "Boundary"))
                if box is None:
                    continue
                items = self._picture_items(picture, box) if picture else []
                if not items:
                    items = [Path(_ellipse(box), stroke=(220, 30, 30), line_width=0.6)]
                    self.pkg.note("签章图片无法显示，以红色轮廓代替")
                self.stamps.setdefault(attr(stamp, "PageRef") or "", []).append((box, items))

    def _seal_picture(self, value: bytes | None) -> tuple[str, bytes] | None:
        if not value:
            return None
        from invoice_archive.verification import _der
        from invoice_archive.verification.ses import SESSignature, parse_signed_value

        try:
            parsed = parse_signed_value(value)
        except Exception:
            return None
        if not isinstance(parsed, SESSignature) or parsed.seal is None:
            return None
        try:
            info = _der.parse_all(parsed.seal.seal_info_raw)
            for node in info.children():
                if not (node.constructed and node.is_(_der.SEQUENCE)):
                    continue
                kids = node.children()
                if (len(kids) >= 2 and kids[0].is_(_der.IA5_STRING) and kids[1].is_(_der.OCTET_STRING)):
                    return kids[0].as_text().strip().lower(), kids[1].content
        except Exception:
            return None
        return None

    def _picture_items(self, picture: tuple[str, bytes], box: tuple[float, float, float, float]) -> list:
        kind, data = picture
        bx, by, bw, bh = box
        mime = sniff_image(data)
        if mime:
            return [Image(data, mime, (bw, 0.0, 0.0, bh, bx, by), label="seal")]
        if data[:2] == b"PK" and self.depth < 2:  # an OFD seal picture: draw its first page
            from invoice_archive.formats import open_ofd

            try:
                pkg = open_ofd(data)
                inner = _Renderer({n: pkg[n] for n in pkg}, self.depth + 1).render()
            except Exception:
                return []
            if not inner:
                return []
            page = inner[0]
            m = (bw / page.width, 0.0, 0.0, bh / page.height, bx, by)
            return [_with_matrix(it, m) for it in page.items]
        return []

    # -- drawing ----------------------------------------------------------------
    def render(self) -> list[Page]:
        pages = []
        for index, (page_id, loc) in enumerate(self.pages):
            try:
                pages.append(self._page(index, page_id, loc))
            except Exception as exc:
                log.debug("page %s failed", loc, exc_info=True)
                page = Page(*self.default_box)
                page.notes.append(f"第 {index + 1} 页无法绘制: {exc}")
                pages.append(page)
        return pages

    def _page(self, index: int, page_id: str, loc: str) -> Page:
        root = self.pkg.xml(loc)
        if root is None:
            self.pkg.note(f"第 {index + 1} 页 {loc} 无法读取")
        box = _box(text_of(find(find(root, "Area"), "PhysicalBox"))) if root is not None else None
        size = (box[2], box[3]) if box and box[2] > 0 and box[3] > 0 else self.default_box
        page = Page(size[0], size[1])
        origin = translate(-box[0], -box[1]) if box else IDENTITY
        templates = findall(root, "Template") if root is not None else []
        for tpl in templates:
            if (attr(tpl, "ZOrder") or "Background").lower() != "foreground":
                self._template(page, tpl, origin)
        if root is not None:
            self._content(page, find(root, "Content"), loc, origin)
        for tpl in templates:
            if (attr(tpl, "ZOrder") or "").lower() == "foreground":
                self._template(page, tpl, origin)
        for annot_loc in self.annots.get(page_id, []):
            self._annotations(page, annot_loc, origin)
        for _box_, items in self.stamps.get(page_id, []):
            page.items.extend(_with_matrix(it, origin) for it in items)
        if index == 0 or not page.notes:
            page.notes.extend(n for n in self.pkg.notes if n not in page.notes)
        return page

    def _template(self, page: Page, tpl: Element, origin: Matrix) -> None:
        loc = self.templates.get(attr(tpl, "TemplateID") or "")
        root = self.pkg.xml(loc)
        if root is None:
            page.notes.append(f"模板页 {attr(tpl, 'TemplateID')} 无法读取")
            return
        self._content(page, find(root, "Content"), loc or "", origin)

    def _annotations(self, page: Page, loc: str, origin: Matrix) -> None:
        root = self.pkg.xml(loc)
        if root is None:
            return
        for annot in findall(root, "Annot"):
            if not _bool(attr(annot, "Visible"), True):
                continue
            for app in findall(annot, "Appearance"):
                box = _box(attr(app, "Boundary")) or (0.0, 0.0, 0.0, 0.0)
                self._objects(page, app, loc, multiply(translate(box[0], box[1]), origin), None, 0)

    def _content(self, page: Page, content: Element | None, loc: str, base: Matrix) -> None:
        if content is None:
            return
        for layer in findall(content, "Layer"):
            self._objects(page, layer, loc, base, attr(layer, "DrawParam"), 0)

    def _objects(self, page: Page, parent: Element, loc: str, base: Matrix,
                 draw_param: str | None, depth: int) -> None:
        if depth > _MAX_DEPTH:
            return
        for el in parent:
            self.count += 1
            if self.count > _MAX_OBJECTS:
                if self.count == _MAX_OBJECTS + 1:
                    page.notes.append("对象过多，其余未绘制")
                return
            tag = local(el.tag)
            try:
                if tag == "TextObject":
                    self._text(page, el, base, draw_param)
                elif tag == "PathObject":
                    self._path_obj(page, el, base, draw_param)
                elif tag == "ImageObject":
                    self._image(page, el, base)
                elif tag == "PageBlock":
                    self._objects(page, el, loc, base, draw_param, depth + 1)
            except Exception as exc:
                page.notes.append(f"{tag} {attr(el, 'ID') or ''} 无法绘制: {exc}")

    def _matrix(self, el: Element, base: Matrix) -> Matrix:
        box = _box(attr(el, "Boundary")) or (0.0, 0.0, 0.0, 0.0)
        return multiply(multiply(_ctm(attr(el, "CTM")), translate(box[0], box[1])), base)

    def _param(self, name: str | None) -> Element | None:
        return self.draw_params.get(name or "")

    def _text(self, page: Page, el: Element, base: Matrix, draw_param: str | None) -> None:
        if not _bool(attr(el, "Visible"), True):
            return
        m = self._matrix(el, base)
        size = (_floats(attr(el, "Size")) or [3.5])[0]
        font = self.fonts.get(attr(el, "Font") or "", "宋体")
        param = self._param(attr(el, "DrawParam") or draw_param)
        color = _color(find(el, "FillColor")) or _color(find(param, "FillColor")) or (0, 0, 0)
        weight = attr(el, "Weight")
        bold = bool(weight and weight.isdigit() and int(weight) >= 700)
        x = y = 0.0
        for code in findall(el, "TextCode"):
            text = code.text or ""
            xs_attr, ys_attr = attr(code, "X"), attr(code, "Y")
            if xs_attr is not None:
                x = (_floats(xs_attr) or [x])[0]
            if ys_attr is not None:
                y = (_floats(ys_attr) or [y])[0]
            dxs, dys = parse_deltas(attr(code, "DeltaX")), parse_deltas(attr(code, "DeltaY"))
            xs, ys = [], []
            cx, cy = x, y
            for i, ch in enumerate(text):
                xs.append(cx)
                ys.append(cy)
                cx += dxs[i] if i < len(dxs) else _advance(ch, size)
                cy += dys[i] if i < len(dys) else 0.0
            x, y = cx, cy
            if text.strip():
                page.items.append(Text(text, xs, ys, size, font=font, color=color, bold=bold,
                                       matrix=m, object_id=attr(el, "ID")))

    def _path_obj(self, page: Page, el: Element, base: Matrix, draw_param: str | None) -> None:
        if not _bool(attr(el, "Visible"), True):
            return
        ops = parse_path(text_of(find(el, "AbbreviatedData")))
        if not ops:
            return
        param = self._param(attr(el, "DrawParam") or draw_param)
        stroke_on = _bool(attr(el, "Stroke"), True)
        fill_on = _bool(attr(el, "Fill"), False)
        width = (_floats(attr(el, "LineWidth")) or _floats(attr(param, "LineWidth") if param is not None else None)
                 or [0.353])[0]
        stroke = (_color(find(el, "StrokeColor")) or _color(find(param, "StrokeColor")) or (0, 0, 0)) \
            if stroke_on else None
        fill = (_color(find(el, "FillColor")) or _color(find(param, "FillColor")) or (0, 0, 0)) if fill_on else None
        if stroke is None and fill is None:
            return
        page.items.append(Path(ops, stroke=stroke, fill=fill, line_width=width,
                               matrix=self._matrix(el, base)))

    def _image(self, page: Page, el: Element, base: Matrix) -> None:
        if not _bool(attr(el, "Visible"), True):
            return
        rid = attr(el, "ResourceID") or ""
        loc = self.media.get(rid)
        data = self.pkg.get(loc)
        if data is None:
            page.notes.append(f"图片资源 {rid} 缺失")
            return
        mime = sniff_image(data)
        if mime is None:
            page.notes.append(f"图片资源 {rid} 的格式 ({posixpath.splitext(loc or '')[1] or '?'}) 无法显示")
            return
        page.items.append(Image(data, mime, self._matrix(el, base), label=rid))


def _with_matrix(item, m: Matrix):
    import copy

    new = copy.copy(item)
    new.matrix = multiply(item.matrix, m)
    return new


def _ellipse(box: tuple[float, float, float, float]) -> list[tuple]:
    bx, by, bw, bh = box
    cx, cy, rx, ry = bx + bw / 2, by + bh / 2, bw / 2, bh / 2
    pts = [(cx + rx * math.cos(2 * math.pi * k / 48), cy + ry * math.sin(2 * math.pi * k / 48)) for k in range(49)]
    return [("M", *pts[0])] + [("L", x, y) for x, y in pts[1:]] + [("Z",)]


# --- public --------------------------------------------------------------------------

def ofd_pages(members: Mapping[str, bytes]) -> list[Page]:
    """Every page of the package as a display list (never raises)."""
    try:
        return _Renderer(members).render()
    except Exception as exc:  # pragma: no cover - last line of defence
        log.debug("OFD rendering failed", exc_info=True)
        return [Page(*A4, notes=[f"OFD 无法绘制: {exc}"])]


def ofd_page_count(members: Mapping[str, bytes]) -> int:
    try:
        return len(_Renderer(members).pages)
    except Exception:
        return 0


def ofd_text_positions(members: Mapping[str, bytes], page_index: int = 0) -> list[tuple[str, float, float, float]]:
    """(text, x, y, font size) of each TextCode on a page, in page millimetres,
    as the display list places it (used by tests and the bundle verifier)."""
    from .page import apply, scale_of

    pages = ofd_pages(members)
    if not 0 <= page_index < len(pages):
        return []
    out = []
    for item in pages[page_index].items:
        if isinstance(item, Text):
            x, y = apply(item.matrix, item.xs[0], item.ys[0])
            out.append((item.text, x, y, item.size * scale_of(item.matrix)))
    return out


def iter_text(pages: Iterable[Page]) -> Iterable[str]:
    for p in pages:
        for item in p.items:
            if isinstance(item, Text):
                yield item.text
