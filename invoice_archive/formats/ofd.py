"""OFD invoices: every source inside the package, best first, cross-checked.

Sources (provenance names):

* ``ofd:<name>`` — an embedded 数电票 ``EInvoice`` XML;
* ``ofd:original_invoice.xml`` — the structured record of 增值税电子发票;
* ``ofd:xbrl`` — MOF XBRL (``inv_*``, ``rai_*``, ``bker``/``bkrs``);
* ``ofd:graph_code`` — the QR payload inside ``original_invoice.xml``;
* ``ofd:tags`` — the custom tag tree resolved to page TextObjects;
* ``ofd:custom_datas`` — ``OFD.xml`` DocInfo/CustomDatas;
* ``ofd:page_text`` — the printed title (only used for the kind).
"""
from __future__ import annotations

import posixpath
import re
from dataclasses import replace
from typing import Any

from . import normalize as norm
from . import page_layout
from .einvoice_xml import apply_remark_people, is_einvoice, read_einvoice
from .errors import InvoiceFormatError
from .limits import Limits
from .lines import LINE_FIELDS as _LINE_FIELDS
from .lines import line_from_cells as _line
from .merge import LABELS, Draft, merge
from .model import KEY_FIELDS, InvoiceDocument, LineItem
from .package import OfdPackage
from .xbrl import read_xbrl
from .xmlsafe import (
    Element,
    attr,
    find,
    findall,
    findtext,
    local,
    parse,
    scan_text_objects,
    tag_memo,
    text_of,
)

# Tag/record element -> flat field. Shared by the original_invoice.xml record
# and all three tag-tree dialects (they reuse the same element names).
_FIELDS = {
    "InvoiceCode": ("code", norm.ident),
    "InvoiceNo": ("number", norm.ident),
    "IssueDate": ("issue_date", norm.date),
    "InvoiceCheckCode": ("check_code", norm.ident),
    "MachineNo": ("machine_number", norm.ident),
    "BuyerName": ("buyer_name", norm.text),
    "BuyerTaxID": ("buyer_tax_id", norm.ident),
    "BuyerAddrTel": ("buyer_address_phone", norm.text),
    "BuyerFinancialAccount": ("buyer_bank_account", norm.text),
    "SellerName": ("seller_name", norm.text),
    "SellerTaxID": ("seller_tax_id", norm.ident),
    "SellerAddrTel": ("seller_address_phone", norm.text),
    "SellerFinancialAccount": ("seller_bank_account", norm.text),
    "TaxInclusiveTotalAmount": ("total", lambda v: norm.money(v, "价税合计")),
    "TaxExclusiveTotalAmount": ("amount_excl_tax", lambda v: norm.money(v, "合计金额")),
    "TaxTotalAmount": ("tax", lambda v: norm.money(v, "合计税额")),
    "TaxInclusiveTotalAmountWithWords": ("total_in_words", norm.text),
    "Note": ("remarks", norm.text),
    "InvoiceClerk": ("clerk", norm.text),
    "Payee": ("payee", norm.text),
    "Checker": ("checker", norm.text),
}
_LINE_FIELD_SET = frozenset(_LINE_FIELDS)
_CUSTOM_DATAS = {
    "发票代码": ("code", norm.ident),
    "发票号码": ("number", norm.ident),
    "开票日期": ("issue_date", norm.date),
    "校验码": ("check_code", norm.ident),
    "合计金额": ("amount_excl_tax", lambda v: norm.money(v, "合计金额")),
    "合计税额": ("tax", lambda v: norm.money(v, "合计税额")),
    "价税合计": ("total", lambda v: norm.money(v, "价税合计")),
    "购买方纳税人识别号": ("buyer_tax_id", norm.ident),
    "购买方名称": ("buyer_name", norm.text),
    "销售方纳税人识别号": ("seller_tax_id", norm.ident),
    "销售方名称": ("seller_name", norm.text),
    "开票人": ("clerk", norm.text),
}
# Printed titles, searched as UTF-8 bytes (fast), then classified on a small window.
_TITLE_MARKERS = tuple(
    m.encode("utf-8")
    for m in ("电子发票（", "电子发票(", "增值税电子普通发票", "增值税电子专用发票", "铁路电子客票")
)
_GOODS_OPEN = re.compile(rb"<(?:[A-Za-z_][\w.-]*:)?GoodsInfos[\s>/]")
_GOODS_CLOSE = re.compile(rb"</(?:[A-Za-z_][\w.-]*:)?GoodsInfos\s*>")
# A real invoice has one or two attachments and one tag file; a package that
# lists thousands must not make us parse thousands of files.
_MAX_ATTACHMENTS = 32
_MAX_TAG_FILES = 8
_TOLERATED = {"xml_malformed", "bad_encoding"}
_ORIGINAL_RED = re.compile(r"对应正数发票代码[:：]?\s*(\d{10,12})\s*号码[:：]?\s*(\d{8})")


def _resolve(base_file: str, loc: str | None) -> str | None:
    """An OFD location relative to the file that names it; absolute when it starts with '/'."""
    if not loc:
        return None
    loc = loc.strip().replace("\\", "/")
    if loc.startswith("/"):
        path = loc
    else:
        slash = base_file.rfind("/")
        path = "/" + (base_file[: slash + 1] if slash >= 0 else "") + loc
    if "/." in path or "//" in path:
        path = posixpath.normpath(path)
    return path.lstrip("/") or None


class _Ofd:
    def __init__(self, pkg: OfdPackage, limits: Limits, thorough: bool = False) -> None:
        self.pkg = pkg
        self.limits = limits
        self.thorough = thorough
        self.warnings: list[str] = []
        self._page_text: dict[str, dict[str, tuple[str, float]]] = {}

    def xml(self, path: str | None) -> Element | None:
        if path is None:
            return None
        key = self.pkg.resolve_name(path)
        if key is None:
            return None
        return parse(self.pkg[key], key, self.limits)

    def soft_xml(self, path: str | None, what: str) -> Element | None:
        """Parse a secondary source; a malformed or mis-encoded one is a warning, not a refusal.

        Security refusals (DTD, zip bomb, corrupt zip ...) still propagate.
        """
        try:
            return self.xml(path)
        except InvoiceFormatError as exc:
            if exc.code not in _TOLERATED:
                raise
            self.warnings.append(f"{what} {path} 无法解析（{exc.code}），已忽略该来源。")
            return None

    # -- structure -------------------------------------------------------
    def read(self) -> InvoiceDocument:
        root = self.xml("OFD.xml")
        if root is None:
            raise InvoiceFormatError("unsupported_format", detected="ZIP 压缩包，不含 OFD.xml")
        if local(root.tag) != "OFD":
            raise InvoiceFormatError("ofd_invalid", reason="OFD.xml 根元素不是 OFD")
        bodies = findall(root, "DocBody")
        if not bodies:
            raise InvoiceFormatError("ofd_invalid", reason="缺少 DocBody")
        body = bodies[0]
        if len(bodies) > 1:
            self.warnings.append(f"OFD 文件包含 {len(bodies)} 个文档，只读取了第一个。")
        custom = self._custom_datas(find(body, "DocInfo"))
        doc_path = _resolve("OFD.xml", findtext(body, "DocRoot"))
        document = self.xml(doc_path)
        if document is None or doc_path is None:
            raise InvoiceFormatError("ofd_invalid", reason="缺少 DocRoot 指向的 Document.xml")

        self.doc_path = doc_path
        pages_node = find(document, "Pages")
        self.pages: list[tuple[str, str | None]] = []
        if pages_node is not None:
            for page in findall(pages_node, "Page"):
                self.pages.append((page.get("ID", ""), _resolve(doc_path, page.get("BaseLoc"))))
        self.page_locs = dict(self.pages)
        common = find(document, "CommonData")
        self.templates: dict[str, str | None] = {}
        if common is not None:
            for tpl in findall(common, "TemplatePage"):
                self.templates[tpl.get("ID", "")] = _resolve(doc_path, tpl.get("BaseLoc"))

        drafts: list[Draft] = []
        attachments: list[str] = []
        attach_drafts = self._attachments(document, attachments)
        drafts.extend(attach_drafts)
        # The tag tree (page text) is read when no structured attachment gives
        # the invoice, or on request (``thorough``): it costs a parse of the
        # tag file and of every page it points into.
        complete = any(
            d.source != "ofd:graph_code"
            and "issue_date" in d.fields
            and ("number" in d.fields or d.fields.get("kind", "").startswith("bank"))
            for d in attach_drafts
        )
        if self.thorough or not complete:
            tag_draft = self._tags(document, with_lines=not any(d.lines for d in attach_drafts))
            if tag_draft is not None:
                drafts.append(tag_draft)
        if custom is not None:
            drafts.append(custom)
        page = self._page_draft(drafts)
        if page is not None:
            drafts.append(page)

        if not any("number" in d.fields or d.fields.get("kind", "").startswith("bank") for d in drafts):
            raise InvoiceFormatError(
                "not_an_invoice",
                reason="文件中没有发票附件、发票标签或发票元数据",
                pages=len(self.pages),
            )
        kind = self._kind(drafts)
        if kind in ("digital_normal", "digital_special", "vat_e_normal", "vat_e_special"):
            for d in drafts:
                if d.source == "ofd:tags":
                    apply_remark_people(d, d.fields.get("remarks"))
        doc = merge(
            drafts,
            source_format="ofd",
            pages=len(self.pages) or None,
            attachments=tuple(attachments),
            warnings=self.warnings,
            default_kind=kind,
        )
        from_page = [LABELS.get(f, f) for f, src in doc.provenance.items()
                     if src == page_layout.SOURCE and f in KEY_FIELDS]
        if from_page:
            doc = replace(doc, warnings=(*doc.warnings, (
                f"以下字段只在票面上印出，按标准发票版式读取（置信度较低），请与票面核对：{'、'.join(from_page)}。")))
        return doc

    # -- kind ------------------------------------------------------------
    def _kind(self, drafts: list[Draft]) -> str:
        strong = [d.fields["kind"] for d in drafts if "kind" in d.fields]
        if strong:
            return strong[0]
        number = next((d.fields["number"] for d in drafts if "number" in d.fields), None)
        code = next((d.fields["code"] for d in drafts if "code" in d.fields), None)
        title_kind = self._title_kind()
        if title_kind is not None:
            code_kind = norm.kind_from_code(code)
            if code_kind and title_kind != code_kind:
                self.warnings.append(
                    f"发票种类不一致：票面标题为 {title_kind}，发票代码 {code} 推断为 {code_kind}；采用票面标题。"
                )
            if code is None and title_kind.startswith("vat_e"):
                title_kind = title_kind.replace("vat_e", "digital")
            return title_kind
        if code:
            code_kind = norm.kind_from_code(code)
            if code_kind:
                return code_kind
            self.warnings.append("无法从票面确定发票种类（普票/专票），按增值税电子普通发票处理。")
            return "vat_e_normal"
        if number and len(number) == 20:
            self.warnings.append("无法从票面确定发票种类（普票/专票），按电子发票（普通发票）处理。")
            return "digital_normal"
        self.warnings.append("无法确定发票种类，按电子发票（普通发票）处理。")
        return "digital_normal"

    def _title_kind(self) -> str | None:
        """Look for the printed title on the first page and its template."""
        if not self.pages:
            return None
        candidates: list[str | None] = []
        first = self.pages[0][1]
        first_key = self.pkg.resolve_name(first) if first else None
        first_bytes = self.pkg[first_key] if first_key else b""
        at = first_bytes.find(b'TemplateID="')
        if at >= 0:
            end = first_bytes.find(b'"', at + 12)
            candidates.append(self.templates.get(first_bytes[at + 12 : end].decode("ascii", "replace")))
        candidates.extend(list(self.templates.values())[:_MAX_TAG_FILES])
        seen: set[str] = set()
        for blob_path in [first, *candidates]:
            key = self.pkg.resolve_name(blob_path) if blob_path else None
            if key is None or key in seen:
                continue
            seen.add(key)
            blob = self.pkg[key]
            for marker in _TITLE_MARKERS:
                at = blob.find(marker)
                if at < 0:
                    continue
                window = blob[at : at + 48].decode("utf-8", "ignore").split("<", 1)[0]
                kind = norm.kind_from_title(window)
                if kind:
                    return kind
        return None

    # -- DocInfo/CustomDatas ----------------------------------------------
    def _custom_datas(self, info: Element | None) -> Draft | None:
        if info is None:
            return None
        datas = find(info, "CustomDatas")
        if datas is None:
            return None
        d = Draft("ofd:custom_datas")
        for item in findall(datas, "CustomData"):
            name = (item.get("Name") or "").strip()
            spec = _CUSTOM_DATAS.get(name)
            if spec is not None:
                d.set(spec[0], spec[1](text_of(item)))
            elif name == "模板编号":
                d.set("kind", norm.kind_from_title(text_of(item)))
            elif name == "开票类型" and "红" in (text_of(item) or ""):
                d.set("is_red", True)
        return None if d.empty() else d

    def _locate(self, index_path: str, loc: str | None, what: str = "附件") -> str | None:
        """The member an index entry names: relative to the index file (the
        standard), else to the document's folder or the package root (what
        some producers write). A name not in the package is a warning."""
        if not loc:
            return None
        for base in (index_path, self.doc_path, "OFD.xml"):
            path = _resolve(base, loc)
            key = self.pkg.resolve_name(path) if path else None
            if key is not None:
                return key
        self.warnings.append(f"{what} {loc} 在索引中登记，但文件中不存在。")
        return None

    # -- the printed page ------------------------------------------------------
    def _page_draft(self, drafts: list[Draft]) -> Draft | None:
        """The standard invoice form read from the first page, when no
        structured source gives the invoice, its totals or its lines
        (see page_layout). Only for the 增值税电子发票 form; a page whose
        number disagrees with the structured sources is not used."""
        if not self.pages:
            return None
        fields: set[str] = set()
        for d in drafts:
            fields.update(d.fields)
        kinds = [d.fields["kind"] for d in drafts if "kind" in d.fields]
        if kinds and not kinds[0].startswith("vat_e"):
            return None
        missing = _PAGE_WANTED - fields
        if not missing and any(d.lines for d in drafts):
            return None
        if "number" not in fields:
            title = self._title_kind()
            if title is None or not title.startswith(("vat_e", "digital")):
                return None
        key = self.pkg.resolve_name(self.pages[0][1]) if self.pages[0][1] else None
        if key is None:
            return None
        try:
            boxes = page_layout.text_boxes(self.pkg[key], key, self.limits)
        except InvoiceFormatError as exc:
            if exc.code not in _TOLERATED:
                raise
            return None
        page = page_layout.read_page(boxes)
        if page is None:
            return None
        known = next((d.fields["number"] for d in drafts if "number" in d.fields), None)
        if known is not None and page.fields.get("number") != known:
            return None
        return page

    # -- attachments -------------------------------------------------------
    def _attachments(self, document: Element, names: list[str]) -> list[Draft]:
        loc = _resolve(self.doc_path, findtext(document, "Attachments"))
        index = self.soft_xml(loc, "附件索引")
        listed: list[tuple[str | None, str]] = []
        if index is not None and loc is not None:
            for att in findall(index, "Attachment")[:_MAX_ATTACHMENTS]:
                key = self._locate(loc, _file_loc(att))
                if key is not None:
                    listed.append((key, (att.get("Format") or "").lower()))
        if not listed:
            # No (usable) index: the files producers put in an Attachs folder.
            listed = [(n, "") for n in self.pkg
                      if "/attachs/" in f"/{n.lower()}" and n.lower().endswith((".xml", ".xbrl"))
                      ][:_MAX_ATTACHMENTS]
        einvoice: list[Draft] = []
        original: list[Draft] = []
        xbrl: list[Draft] = []
        for key, fmt in listed:
            if key is None or key in names:  # listed twice: read once
                continue
            names.append(key)
            if not key.lower().endswith((".xml", ".xbrl")) and fmt not in ("xml", "xbrl"):
                continue
            root = self.soft_xml(key, "附件")
            if root is None:
                continue
            base = posixpath.basename(key)
            if is_einvoice(root):
                einvoice.append(read_einvoice(root, f"ofd:{base}"))
            elif local(root.tag) == "eInvoice":
                original.extend(self._original(root))
            else:
                draft = read_xbrl(root)
                if draft is not None:
                    xbrl.append(draft)
        return einvoice + original + xbrl

    def _original(self, root: Element) -> list[Draft]:
        d = Draft("ofd:original_invoice.xml")
        _fill(d, root, text_of)
        type_code = norm.ident(findtext(root, "TypeCode"))
        if type_code == "1":
            d.set("is_red", True)
        red = _ORIGINAL_RED.search(d.fields.get("remarks") or "")
        if red:
            d.set("is_red", True)
            d.set("original_number", red.group(2))
            d.extra["original_code"] = red.group(1)
        goods = find(root, "GoodsInfos")
        if goods is not None:
            d.lines = _record_lines(goods)
        drafts = [d]
        graph = norm.text(findtext(root, "GraphCode")) or ""
        parts = graph.split(",")
        if len(parts) >= 7 and len(graph) < 300:
            g = Draft("ofd:graph_code")
            g.set("kind", {"10": "vat_e_normal", "20": "vat_e_special"}.get(parts[1].strip()))
            g.set("code", norm.ident(parts[2]))
            g.set("number", norm.ident(parts[3]))
            g.set("amount_excl_tax", norm.amount(parts[4]))
            g.set("issue_date", norm.date(parts[5]))
            g.set("check_code", norm.ident(parts[6]))
            drafts.append(g)
        return drafts

    # -- tag tree -----------------------------------------------------------
    def _tags(self, document: Element, with_lines: bool = True) -> Draft | None:
        loc = _resolve(self.doc_path, findtext(document, "CustomTags"))
        index = self.soft_xml(loc, "标签索引")
        if index is None or loc is None:
            return None
        seen: set[str | None] = set()
        for tag in findall(index, "CustomTag")[:_MAX_TAG_FILES]:
            path = self._locate(loc, _file_loc(tag), "标签文件")
            if path in seen:
                continue
            seen.add(path)
            root = None if with_lines else self._tag_header_only(path)
            if root is None:
                root = self.soft_xml(path, "标签文件")
            if root is None:
                continue
            if local(root.tag) == "e-invoice":  # a wrapper around fp:eInvoice
                inner = find(root, "eInvoice")
                root = inner if inner is not None else root
            if local(root.tag) not in ("eInvoice", "root"):
                continue
            draft = Draft("ofd:tags")
            _fill(draft, root, self._ref_text)
            if with_lines:
                top: dict[str, Element] = {}
                for child in root:
                    top.setdefault(local(child.tag), child)
                goods = top.get("GoodsInfos")
                if goods is not None:
                    draft.lines = [self._tag_line(g) for g in findall(goods, "GoodsInfo")]
                elif "Amount" in top:
                    draft.lines = self._flat_lines(top)
            if not draft.empty():
                return draft
        return None

    def _tag_header_only(self, path: str | None) -> Element | None:
        """The tag file without its GoodsInfos block, when the lines come from elsewhere.

        Multi-page invoices list hundreds of goods refs; cutting the block out
        of the bytes before parsing saves most of the work. If the cut does
        not leave well-formed XML, the caller parses the whole file.
        """
        key = self.pkg.resolve_name(path) if path else None
        if key is None:
            return None
        blob = self.pkg[key]
        start = _GOODS_OPEN.search(blob)
        if start is None:
            return None
        end = None
        for end in _GOODS_CLOSE.finditer(blob, start.end()):
            pass
        if end is None:
            return None
        try:
            return parse(blob[: start.start()] + blob[end.end() :], key, self.limits)
        except InvoiceFormatError as exc:
            if exc.code not in _TOLERATED:
                raise
            return None

    def _refs(self, node: Element | None) -> list[tuple[str, float]]:
        """Texts (and top y) of the ObjectRefs / ObjectData under one tag element."""
        if node is None:
            return []
        out: list[tuple[str, float]] = []
        for child in node:
            name = local(child.tag)
            if name == "ObjectRef":
                objects = self._page_objects(attr(child, "PageRef") or "")
                hit = objects.get((child.text or "").strip())
                if hit is not None:
                    out.append(hit)
            elif name == "ObjectData":
                out.append(((text_of(child) or "").strip(), 0.0))
        return out

    def _ref_text(self, node: Element | None) -> str | None:
        refs = self._refs(node)
        if not refs:
            return None
        return "".join(t for t, _ in refs) if node is None or local(node.tag) != "Note" else "\n".join(
            t for t, _ in refs if t
        )

    def _page_objects(self, page_id: str) -> dict[str, tuple[str, float]]:
        loc = self.page_locs.get(page_id)
        key = self.pkg.resolve_name(loc) if loc else None
        cached = self._page_text.get(key or "")
        if cached is None:
            cached = {}
            if key:
                try:
                    cached = scan_text_objects(self.pkg[key], key, self.limits)[0]
                except InvoiceFormatError as exc:
                    if exc.code not in _TOLERATED:
                        raise
                    self.warnings.append(f"页面 {key} 无法解析（{exc.code}），已忽略其中的文字。")
            self._page_text[key or ""] = cached
        return cached

    def _tag_line(self, goods_info: Element) -> LineItem:
        cells: dict[str, str | None] = {}
        for cell in goods_info:
            name = local(cell.tag)
            if name in _LINE_FIELD_SET and name not in cells:
                cells[name] = self._ref_text(cell)
        return _line(cells)

    def _flat_lines(self, top: dict[str, Element]) -> list[LineItem]:
        """数电票 dialect: one element per column, rows told apart by the TextObject's y."""
        columns = {f: self._refs(top.get(f)) for f in _LINE_FIELDS}
        anchors = sorted(y for _, y in columns["Amount"])
        if not anchors:
            return []
        rows: list[dict[str, list[str]]] = [{} for _ in anchors]
        tolerance = 1.0
        for field_name, refs in columns.items():
            for text, y in refs:
                index = 0
                for i, anchor in enumerate(anchors):
                    if y + tolerance >= anchor:
                        index = i
                rows[index].setdefault(field_name, []).append(text)
        return [_line({k: "".join(v) for k, v in row.items()}) for row in rows]


_GROUPS = frozenset({"Buyer", "Seller", "eInvoice"})
# Fields whose absence from every structured source sends the reader to the page.
_PAGE_WANTED = frozenset({"number", "issue_date", "amount_excl_tax", "tax", "total"})


def _file_loc(entry: Element) -> str | None:
    """Where an Attachment / CustomTag entry points: its ``<FileLoc>`` (the
    standard), a ``FileLoc`` attribute, or the path as the entry's own text."""
    loc = findtext(entry, "FileLoc") or attr(entry, "FileLoc")
    if not loc and len(entry) == 0:
        loc = entry.text
    loc = (loc or "").strip()
    return loc or None


def _fill(draft: Draft, root: Element, getter: Any) -> None:
    """Map record/tag elements to fields (first occurrence wins).

    Fields sit at the top level or one level down in Buyer/Seller (both in
    original_invoice.xml and in every tag dialect); the goods list is read
    separately.
    """
    fields = draft.fields
    for node in root:
        spec = _fill_spec(node.tag)
        if spec is None:
            continue
        if spec is _GROUP:
            for sub in node:
                sub_spec = _fill_spec(sub.tag)
                if sub_spec is not None and sub_spec is not _GROUP and sub_spec[0] not in fields:
                    draft.set(sub_spec[0], sub_spec[1](getter(sub)))
            continue
        if spec[0] not in fields:
            draft.set(spec[0], spec[1](getter(node)))


_GROUP = ("group", None)


@tag_memo
def _fill_spec(tag: Any) -> Any:
    """Full tag -> (field, normaliser), _GROUP for Buyer/Seller/eInvoice, or None."""
    name = local(tag) if isinstance(tag, str) else ""
    return _FIELDS.get(name) or (_GROUP if name in _GROUPS else None)


def _record_lines(goods: Element) -> list[LineItem]:
    """GoodsInfos/GoodsInfo rows of an original_invoice.xml record."""
    lines = []
    names: dict[Any, str | None] = {}   # full tag -> line field (or None), for this record
    for info in findall(goods, "GoodsInfo"):
        row: dict[str, str | None] = {}
        for cell in info:
            tag = cell.tag
            try:
                name = names[tag]
            except KeyError:
                name = names[tag] = local(tag) if isinstance(tag, str) and local(tag) in _LINE_FIELD_SET else None
            if name is not None and name not in row:
                row[name] = "".join(cell.itertext()) if len(cell) else cell.text
        lines.append(_line(row))
    return lines


def read_ofd_package(pkg: OfdPackage, limits: Limits, thorough: bool = False) -> InvoiceDocument:
    return _Ofd(pkg, limits, thorough).read()
