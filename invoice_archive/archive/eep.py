"""DA/T 48-2009 electronic-record encapsulation (EEP), rendered from an archive package.

The archive package itself is a BagIt bag (package.py). For receivers that
expect the national XML encapsulation, one item's bag renders as one EEP that
validates against DA/T 48 Appendix A's schema (``schemas/dat48_eep.xsd``; where
that file comes from and how faithful it is: its header and docs/standards.md):
root 电子文件封装包 in the namespace ``http://www.saac.gov.cn/standards/ERM/encapsulation``
with 封装包格式描述, 版本 2009, 被签名对象 (封装包类型, 创建时间, 创建单位, and
封装内容 with 文件实体块, 业务实体块, 机构人员实体块), then 电子签名块 and 锁定签名.

* 原始型 (:func:`build_eep`): the item as archived. Its 文件实体 (聚合层次 文件) takes
  its 来源, 档号, 内容描述, 存储位置 and 权限管理 from the item's DA/T 94 metadata;
  文件数据 holds one 文档 per payload file, embedded Base64-encoded in 编码数据, with
  its size in 电子属性 and its SHA-256 and SM3 digests in a 附注 line each.
* 修改型 (:func:`build_modified_eep`): a layer over an original EEP, which is kept
  byte for byte inside 修改封装内容/原封装包 with its own signature. The 修订内容 adds
  what happened to the item since (its later 业务实体) and points at the original
  data with 引用编码数据ID instead of copying it.

The 电子签名块 signs the bytes of the 被签名对象 element as they stand in the file
(from ``<被签名对象`` to ``</被签名对象>``); the 锁定签名 (被锁定签名标识符 naming the
电子签名) signs from ``<被签名对象`` to ``</电子签名块>``. Both use the service's
bundle key (Ed25519, or SM2-with-SM3), and 证书 carries that key's X.509
certificate (bundle/certificate.py), so :func:`verify_eep` needs nothing from us
but the published key, or only the certificate inside. Pure: no database.
"""
from __future__ import annotations

import base64
import datetime as dt
import functools
import xml.etree.ElementTree as ET
import zipfile
from dataclasses import dataclass
from importlib import resources
from io import BytesIO
from typing import Any, Iterable, Mapping

from invoice_archive.digests import sha256_hex, sm3_hex

NAMESPACE = "http://www.saac.gov.cn/standards/ERM/encapsulation"
VERSION = "2009"
FORMAT_DESCRIPTION = "本EEP根据中华人民共和国档案行业标准DA/T 48-2009《基于XML的电子文件封装规范》生成"
ORIGINAL, MODIFIED = "原始型", "修改型"
TYPE_DESCRIPTIONS = {
    ORIGINAL: "本封装包包含电子文件数据及其元数据，原始封装，未经修改",
    MODIFIED: "本封装包包含电子文件数据及其元数据，系修改封装，在保留原封装包的基础上，添加了修改层",
}
ENCODING_DESCRIPTION = ("本封装包中“编码数据”元素存储的是计算机文件二进制流的Base64编码，有关Base64编码规则参见"
                        "IETF RFC 2045多用途邮件扩展（MIME）第一部分：互联网信息体格式。当提取和显现封装在编码数据元素"
                        "中的计算机文件时，应对Base64编码进行反编码，并依据封装包中“反编码关键字”元素中记录的值还原计算机"
                        "文件的扩展名")
SIGNED_RULE = "对本文件中“被签名对象”元素（自 <被签名对象 起至 </被签名对象> 止）的 UTF-8 字节签名"
LOCK_RULE = "对本文件中自 <被签名对象 起至 </电子签名块> 止的 UTF-8 字节签名"
ALGORITHM_IDS = {"ed25519": "1.3.101.112", "sm2-sm3": "1.2.156.10197.1.501"}
ALGORITHMS_BY_ID = {v: k for k, v in ALGORITHM_IDS.items()}
SECURITY = "非密"          # 密级: accounting records here carry no state secret (docs/standards.md)
LANGUAGE = "汉语"
DIGEST_NOTE = "数字摘要 {name} 大小 {size} 字节 SHA-256 {sha256} SM3 {sm3}"
ROLE_TITLES = {"voucher": "记账凭证", "claim": "报销单", "original": "原始凭证", "verification": "验签报告",
               "posting_info": "入账信息结构化数据", "metadata": "元数据", "attachment": "附件"}
ACTION_LABELS = {
    "claim.created": "创建报销单", "claim.submitted": "经办", "claim.reviewed": "审核", "claim.approved": "审批",
    "claim.refused": "退回", "claim.signed": "签核", "voucher.posted": "入账", "voucher.reversed": "红字冲销",
    "voucher.reversal_requested": "申请红字冲销", "invoice.received": "接收电子发票",
    "invoice.tax_checked": "查验", "archive.archived": "归档", "archive.checked": "四性检测（复检）",
    "archive.downloaded": "下载归档包", "archive.eep_downloaded": "下载封装包", "archive.withdrawn": "撤销归档标记",
    "archive.transferred": "移交", "archive.eep_modified": "修改封装",
}

_SIGNED_START, _SIGNED_END = "<被签名对象".encode(), "</被签名对象>".encode()
_BLOCK_START, _BLOCK_END = "<电子签名块".encode(), "</电子签名块>".encode()


class EepError(ValueError):
    """The bag cannot be rendered, or a file is not an EEP this module wrote."""


@dataclass(frozen=True)
class EepCheck:
    code: str
    result: str        # pass | fail
    detail: str


# -- the schema ---------------------------------------------------------------------------

@functools.lru_cache(maxsize=1)
def eep_schema() -> Any:
    """DA/T 48 Appendix A's schema (lxml), shipped in the package (schemas/dat48_eep.xsd)."""
    from lxml import etree

    with resources.files("invoice_archive.archive").joinpath("schemas/dat48_eep.xsd").open("rb") as fh:
        return etree.XMLSchema(etree.parse(fh))


def validate_eep(eep: bytes) -> list[str]:
    """Where the EEP departs from the schema: one line per problem, naming the element
    (``line 12: 元素 聚合层次: ...``); empty when it validates."""
    from lxml import etree

    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=True)
    try:
        doc = etree.fromstring(eep, parser)
    except etree.XMLSyntaxError as exc:
        return [f"不是格式良好的 XML: {exc}"]
    schema = eep_schema()
    problems = [] if schema.validate(doc) else [
        f"第 {e.line} 行: {e.message.replace('{' + NAMESPACE + '}', '')}" for e in schema.error_log]
    # libxml2 does not resolve an element's xs:IDREF content (被锁定签名标识符) against the
    # document's IDs: checked here, as the schema asks
    ns = f"{{{NAMESPACE}}}"
    ids = {(el.text or "").strip() for tag in ("文档标识符", "签名标识符", "修改标识符") for el in doc.iter(ns + tag)}
    ids |= {v for el in doc.iter() for k, v in el.attrib.items() if k in ("文档数据ID", "编码ID", "编码数据ID")}
    for el in doc.iter(ns + "被锁定签名标识符"):
        if (el.text or "").strip() not in ids:
            problems.append(f"第 {el.sourceline} 行: 元素 '被锁定签名标识符': '{(el.text or '').strip()}' "
                            f"不是本文件中任何 ID（签名标识符）")
    return problems


# -- building --------------------------------------------------------------------------------

def _add(parent: ET.Element, tag: str, text: Any = None, **attrs: str) -> ET.Element:
    el = ET.SubElement(parent, tag, {k: v for k, v in attrs.items() if v is not None})
    if text is not None:
        el.text = str(text)
    return el


def _payload(bag_zip: bytes) -> tuple[str, list[tuple[str, bytes]]]:
    try:
        with zipfile.ZipFile(BytesIO(bag_zip)) as zf:
            names = [n for n in zf.namelist() if not n.endswith("/")]
            tops = {n.split("/", 1)[0] for n in names}
            if len(tops) != 1:
                raise EepError("归档包应只有一个顶层目录")
            bag = tops.pop()
            files = [(n[len(bag) + 6:], zf.read(n)) for n in sorted(names) if n.startswith(f"{bag}/data/")]
    except zipfile.BadZipFile as exc:
        raise EepError(f"归档包不是有效的 ZIP: {exc}") from None
    if not files:
        raise EepError("归档包中没有内容数据")
    return bag, files


def _utc(when: dt.datetime) -> str:
    return when.astimezone(dt.timezone.utc).isoformat(timespec="seconds")


@dataclass(frozen=True)
class _Item:
    """What the EEP says of the item, read from its DA/T 94 metadata."""

    archival_code: str
    metadata: ET.Element
    roles: Mapping[str, str]                # payload path (data/…) -> role
    voucher_number: str | None = None       # 文件编号: the 记账凭证's number (记-0001)


def _item(bag: str, files: list[tuple[str, bytes]]) -> _Item:
    metadata_name = next((n for n, _ in files if n.endswith("-metadata.xml")), None)
    if metadata_name is None:
        raise EepError("归档包中没有元数据文件")
    metadata = ET.fromstring(dict(files)[metadata_name])   # our own file, already checked at archiving
    code = (metadata.findtext("档号") or "").strip() or bag
    roles = {f.get("计算机文件名", ""): f.get("角色", "") for f in metadata.iter("文件")}
    roles[f"data/{metadata_name}"] = "metadata"
    number = None
    voucher = next((data for name, data in files if roles.get(f"data/{name}") == "voucher"), None)
    if voucher is not None:
        v = ET.fromstring(voucher)
        word, no = (v.findtext("VOUCHER_TYPE") or "").strip(), (v.findtext("VOUCHER_NO") or "").strip()
        number = f"{word}-{no}" if word and no else None
    return _Item(code, metadata, roles, number)


def _record(parent: ET.Element, item: _Item, layer: int, files: list[tuple[str, bytes]], *,
            references: Mapping[str, str] | None = None, notes: Iterable[str] = ()) -> None:
    """One 文件实体 (DA/T 48 order) with its 文件数据: the files embedded, or (in a
    修改型 layer, ``references``: file name -> 编码数据ID) pointing at the original's."""
    m = item.metadata
    code_el = m.find("档号")
    code_attrs = code_el.attrib if code_el is not None else {}
    record = _add(_add(parent, "文件实体块"), "文件实体")
    _add(record, "聚合层次", "文件")
    source = _add(record, "来源")
    _add(source, "全宗名称", m.findtext("全宗名称"))
    _add(source, "立档单位名称", m.findtext("立档单位名称") or m.findtext("全宗名称"))
    _add(record, "电子文件号", item.archival_code)
    code = _add(record, "档号", item.archival_code)
    _add(code, "全宗号", code_attrs.get("全宗号"))
    _add(code, "年度", code_attrs.get("年度"))
    _add(code, "保管期限", code_attrs.get("保管期限"))
    if code_attrs.get("机构或问题"):
        _add(code, "机构或问题", code_attrs["机构或问题"])
    _add(code, "室编案卷号", code_attrs.get("案卷号"))
    _add(code, "室编件号", int(code_attrs.get("件号") or 1))
    content = _add(record, "内容描述")
    _add(content, "题名", m.findtext("题名"))
    _add(content, "分类号", code_attrs.get("类别号"))
    if item.voucher_number:
        _add(content, "文件编号", item.voucher_number)
    _add(content, "责任者", m.findtext("责任者"))
    _add(content, "日期", m.findtext("日期"))
    _add(content, "密级", SECURITY)
    form = _add(record, "形式特征")
    _add(form, "文件组合类型", "组合文件" if len(files) > 1 else "单件")
    _add(form, "语种", LANGUAGE)
    where = _add(record, "存储位置")
    _add(where, "当前位置", m.findtext("存储位置"))
    _add(where, "脱机载体编号", "")         # kept online in the archive store, on no offline carrier
    rights = _add(record, "权限管理")
    access = m.find("权限管理")
    for grant in (access.iter("授权") if access is not None else ()):
        g = _add(rights, "授权")
        _add(g, "授权对象", grant.get("授权对象"))
        _add(g, "授权行为", grant.get("授权行为"))
    _add(rights, "控制标识", access.findtext("控制标识") if access is not None else SECURITY)
    system = m.findtext("来源/源系统")
    _add(record, "信息系统描述", f"invoice-archive（电子会计档案归档）；会计核算系统 {system}" if system
         else "invoice-archive（电子会计档案归档）")
    for note in notes:
        _add(record, "附注", note)
    for name, data in files:
        _add(record, "附注", DIGEST_NOTE.format(name=name, size=len(data), sha256=sha256_hex(data), sm3=sm3_hex(data)))
    data_el = _add(record, "文件数据")
    for n, (name, data) in enumerate(files, start=1):
        doc_id = f"修改{layer}-文档{n}"
        role = item.roles.get(f"data/{name}", "")
        document = _add(data_el, "文档")
        _add(document, "文档标识符", doc_id)
        _add(document, "文档序号", n)
        _add(document, "文档主从声明", "主文档" if role == "voucher" else "附属文档")
        _add(document, "题名", ROLE_TITLES.get(role, "文件"))
        doc_data = _add(document, "文档数据", None, 文档数据ID=f"{doc_id}-文档数据1")
        encoding = _add(doc_data, "编码", None, 编码ID=f"{doc_id}-文档数据1-编码1")
        props = _add(encoding, "电子属性")
        ext = name.rsplit(".", 1)[-1].lower() if "." in name else ""
        _add(props, "格式信息", ext.upper() or "未知")
        _add(props, "计算机文件名", name)
        _add(props, "计算机文件大小", len(data))
        if role != "original":
            _add(props, "文档创建程序", "invoice-archive")
        _add(encoding, "编码描述", ENCODING_DESCRIPTION)
        _add(encoding, "反编码关键字", ext)
        data_id = f"{doc_id}-文档数据1-编码1-编码数据"
        if references is not None:
            _add(encoding, "编码数据", "", 编码数据ID=data_id, 引用编码数据ID=references[name])
        else:
            _add(encoding, "编码数据", base64.b64encode(data).decode("ascii"), 编码数据ID=data_id)


def _people(item: _Item, unit_name: str, unit_code: str, layer: int,
            events: list[Mapping[str, str]]) -> tuple[ET.Element, dict[str, str]]:
    block = ET.Element("机构人员实体块")
    unit_id = f"修改{layer}-机构人员1"
    unit = _add(block, "机构人员实体")
    _add(unit, "机构人员标识符", unit_id)
    _add(unit, "机构人员类型", "单位")
    _add(unit, "机构人员名称", unit_name)
    _add(unit, "组织机构代码", unit_code)
    ids: dict[str, str] = {}
    for actor in dict.fromkeys(e["actor"] for e in events if e.get("actor")):
        ids[actor] = f"修改{layer}-机构人员{len(ids) + 2}"
        person = _add(block, "机构人员实体")
        _add(person, "机构人员标识符", ids[actor])
        _add(person, "机构人员类型", "个人")
        _add(person, "机构人员名称", actor)
    for actor, pid in ids.items():
        rel = _add(block, "机构人员实体关系")
        _add(rel, "机构人员标识符", pid)
        _add(rel, "被关联机构人员标识符", unit_id)
        _add(rel, "关系类型", "隶属")
    ids[""] = unit_id
    return block, ids


def _business(item: _Item, layer: int, events: list[Mapping[str, str]], people: Mapping[str, str]) -> ET.Element:
    block = ET.Element("业务实体块")
    for n, ev in enumerate(events, start=1):
        entity = _add(block, "业务实体")
        _add(entity, "业务标识符", f"修改{layer}-业务{n}")
        _add(entity, "机构人员标识符", people.get(ev.get("actor") or "", people[""]))
        _add(entity, "文件标识符", item.archival_code)
        _add(entity, "业务状态", ev.get("status") or "历史行为")
        _add(entity, "业务行为", ACTION_LABELS.get(ev["action"], ev["action"]))
        _add(entity, "行为时间", ev["at"])
        if ev.get("basis"):
            _add(entity, "行为依据", ev["basis"])
        _add(entity, "行为描述", ev.get("description") or f"{ACTION_LABELS.get(ev['action'], ev['action'])}"
                                                          f"（{ev['action']}）")
    return block


def _metadata_events(item: _Item) -> list[dict[str, str]]:
    return [{"action": e.get("行为", ""), "at": e.get("行为时间", ""), "actor": e.get("责任人", ""),
             "description": e.get("描述", ""), "status": e.get("状态") or "历史行为", "basis": e.get("依据", "")}
            for e in item.metadata.iter("业务行为")]


def _signed_object(kind: str, created: dt.datetime, unit_name: str) -> ET.Element:
    signed = ET.Element("被签名对象", {"eep版本": VERSION})
    _add(signed, "封装包类型", kind)
    _add(signed, "封装包类型描述", TYPE_DESCRIPTIONS[kind])
    _add(signed, "封装包创建时间", _utc(created))
    _add(signed, "封装包创建单位", unit_name)
    return signed


def _sign_and_close(signed_bytes: bytes, *, layer: int, unit_name: str, created: dt.datetime, signer: Any,
                    certificate: bytes) -> bytes:
    when = _utc(created)
    algorithm_id = ALGORITHM_IDS.get(signer.algorithm, signer.algorithm)
    signature_id = f"修改{layer}-签名1"

    def fill(el: ET.Element, first: tuple[str, str], rule: str, data: bytes) -> None:
        _add(el, *first)
        _add(el, "签名规则", rule)
        _add(el, "签名时间", when)
        _add(el, "签名人", f"invoice-archive（{unit_name}）")
        _add(el, "签名结果", base64.b64encode(signer.sign(data)).decode("ascii"))
        certs = _add(el, "证书块")
        _add(certs, "证书", base64.b64encode(certificate).decode("ascii"))
        _add(certs, "证书引证", f"urn:invoice-archive:bundle-key:sha256:{signer.key_id()}")
        _add(el, "签名算法标识", algorithm_id)

    block = ET.Element("电子签名块")
    fill(_add(block, "电子签名"), ("签名标识符", signature_id), SIGNED_RULE, signed_bytes)
    block_bytes = ET.tostring(block, encoding="unicode").encode("utf-8")
    lock = ET.Element("锁定签名")
    fill(lock, ("被锁定签名标识符", signature_id), LOCK_RULE, signed_bytes + block_bytes)
    lock_bytes = ET.tostring(lock, encoding="unicode").encode("utf-8")
    head = ET.Element("电子文件封装包", {"xmlns": NAMESPACE})
    _add(head, "封装包格式描述", FORMAT_DESCRIPTION)
    _add(head, "版本", VERSION)
    opening = ET.tostring(head, encoding="unicode").removesuffix("</电子文件封装包>").encode("utf-8")
    return (b'<?xml version="1.0" encoding="UTF-8"?>\n' + opening + signed_bytes + block_bytes + lock_bytes
            + "</电子文件封装包>".encode("utf-8"))


def build_eep(bag_zip: bytes, *, unit_name: str, unit_code: str, created: dt.datetime, signer: Any,
              certificate: bytes) -> bytes:
    """Render one archive item's bag as a signed 原始型 DA/T 48 EEP (UTF-8 XML bytes).
    ``certificate``: the DER X.509 certificate of the signer's key."""
    bag, files = _payload(bag_zip)
    item = _item(bag, files)
    events = _metadata_events(item)
    signed = _signed_object(ORIGINAL, created, unit_name)
    content = _add(signed, "封装内容")
    _record(content, item, 0, files)
    people, ids = _people(item, unit_name, unit_code, 0, events)
    content.append(_business(item, 0, events, ids))
    content.append(people)
    signed_bytes = ET.tostring(signed, encoding="unicode").encode("utf-8")
    return _sign_and_close(signed_bytes, layer=0, unit_name=unit_name, created=created, signer=signer,
                           certificate=certificate)


def build_modified_eep(original: bytes, bag_zip: bytes, *, events: list[Mapping[str, str]], reason: str,
                       unit_name: str, unit_code: str, created: dt.datetime, signer: Any,
                       certificate: bytes) -> bytes:
    """A 修改型 EEP: ``original`` (an EEP of the same item, kept byte for byte in
    原封装包) under a new layer whose 修订内容 records ``events`` (what happened to the
    item since: action, at, actor, description, basis) and refers to the original's
    data. ``reason`` says why the layer was added (附注)."""
    layers = _layers(original)
    if not layers:
        raise EepError("原封装包不是本系统写出的 DA/T 48 封装包")
    layer = len(layers)      # the original has layers 0..n-1
    start, end, block_start, block_end = layers[0]
    bag, files = _payload(bag_zip)
    item = _item(bag, files)
    root = ET.fromstring(original)
    ns = f"{{{NAMESPACE}}}"
    data_ids = {}
    for enc in root.iter(ns + "编码"):
        name = enc.findtext(f"{ns}电子属性/{ns}计算机文件名")
        data = enc.find(ns + "编码数据")
        if name and data is not None and name not in data_ids and (data.text or "").strip():
            data_ids[name] = data.get("编码数据ID")
    missing = [n for n, _ in files if n not in data_ids]
    if missing:
        raise EepError(f"原封装包中没有文件 {', '.join(missing)}")
    placeholder = "@@原封装包@@"
    signed = _signed_object(MODIFIED, created, unit_name)
    modified = _add(signed, "修改封装内容")
    _add(modified, "修改标识符", f"修改{layer}")
    _add(modified, "原封装包", placeholder)
    revised = _add(modified, "修订内容")
    _record(revised, item, layer, files, references=data_ids, notes=[f"修改原因：{reason}"])
    people, ids = _people(item, unit_name, unit_code, layer, list(events))
    revised.append(_business(item, layer, list(events), ids))
    revised.append(people)
    text = ET.tostring(signed, encoding="unicode")
    before, after = text.split(placeholder)
    # the original 被签名对象 and 电子签名块, as they stand in the original file
    signed_bytes = (before.encode("utf-8") + original[start:end] + original[block_start:block_end]
                    + after.encode("utf-8"))
    return _sign_and_close(signed_bytes, layer=layer, unit_name=unit_name, created=created, signer=signer,
                           certificate=certificate)


# -- verifying ---------------------------------------------------------------------------------

def _positions(data: bytes, needle: bytes) -> list[int]:
    out, at = [], data.find(needle)
    while at >= 0:
        out.append(at)
        at = data.find(needle, at + 1)
    return out


def _layers(eep: bytes) -> list[tuple[int, int, int, int]]:
    """Byte ranges (被签名对象 start, end; 电子签名块 start, end) of each layer, outermost
    first. Layers nest: the k-th ``<被签名对象`` opens layer k, and the closings (of
    被签名对象 and of 电子签名块) come innermost first."""
    opens, closes = _positions(eep, _SIGNED_START), _positions(eep, _SIGNED_END)
    block_opens, block_closes = _positions(eep, _BLOCK_START), _positions(eep, _BLOCK_END)
    n = len(opens)
    if not n or not (len(closes) == len(block_opens) == len(block_closes) == n):
        return []
    out = []
    for depth in range(n):
        start, end = opens[depth], closes[n - 1 - depth] + len(_SIGNED_END)
        b_start, b_end = block_opens[n - 1 - depth], block_closes[n - 1 - depth] + len(_BLOCK_END)
        if not start < end <= b_start < b_end:
            return []
        out.append((start, end, b_start, b_end))
    return out


def _key_of(el: ET.Element, ns: str, public_key_pem: bytes | None,
            checks: list[EepCheck], code: str) -> tuple[bytes | None, str]:
    """The key to verify a signature with (the given one, else the certificate's),
    and the certificate check."""
    from invoice_archive.bundle.certificate import read_certificate
    from invoice_archive.bundle.signing import SigningKeyError, key_fingerprint

    cert_text = el.findtext(f"{ns}证书块/{ns}证书") or ""
    try:
        facts = read_certificate(base64.b64decode(cert_text, validate=True))
    except (SigningKeyError, ValueError) as exc:
        checks.append(EepCheck(code, "fail", f"证书不是可读的 X.509 证书: {exc}"))
        return public_key_pem, ""
    problems = []
    when_text = el.findtext(ns + "签名时间")
    try:
        when = dt.datetime.fromisoformat(when_text) if when_text else None
    except ValueError:
        when = None
    if when is not None and not facts.covers(when):
        problems.append(f"签名时间 {when_text} 不在证书有效期内")
    if public_key_pem is not None:
        try:
            if key_fingerprint(public_key_pem) != key_fingerprint(facts.public_key_pem):
                problems.append("证书中的公钥不是所给的公钥")
        except SigningKeyError as exc:
            problems.append(f"所给公钥无法读取: {exc}")
    if facts.self_signed and not facts.self_signature_ok:
        problems.append("自签名证书的签名不成立")
    issuer = ("自签名" if facts.self_signed else f"由 {facts.issuer} 签发（签发者的证书链须由接收方另行验证）")
    checks.append(EepCheck(code, "fail" if problems else "pass",
                           "；".join(problems) if problems else f"X.509 证书 {facts.subject}，{issuer}，"
                                                                f"有效期 {facts.not_before:%Y-%m-%d} 至 "
                                                                f"{facts.not_after:%Y-%m-%d}"))
    return (public_key_pem if public_key_pem is not None else facts.public_key_pem), facts.subject


def _signature_check(el: ET.Element | None, ns: str, data: bytes, key: bytes | None, code: str) -> EepCheck:
    from invoice_archive.bundle.signing import SigningKeyError, verify_signature

    if el is None:
        return EepCheck(code, "fail", "缺少签名")
    algorithm = ALGORITHMS_BY_ID.get((el.findtext(ns + "签名算法标识") or "").strip(), "")
    if key is None:
        return EepCheck(code, "fail", "没有可用于验证的公钥或证书")
    try:
        ok = verify_signature(key, algorithm, data, base64.b64decode(el.findtext(ns + "签名结果") or "", validate=True))
    except (SigningKeyError, ValueError) as exc:
        return EepCheck(code, "fail", f"签名无法验证: {exc}")
    return EepCheck(code, "pass" if ok else "fail",
                    "签名验证通过" if ok else "签名验证失败：签名范围内的内容被修改或不是本密钥所签")


def verify_eep(eep: bytes, public_key_pem: bytes | None = None) -> list[EepCheck]:
    """Check an EEP: against DA/T 48 Appendix A's schema; the certificate in 证书; every
    layer's 电子签名 and the 锁定签名 over the bytes they name, with the published key
    (or, without one, the key the certificate carries: then trust rests on that
    certificate); and every embedded file against its recorded size and digests."""
    from invoice_archive.formats import InvoiceFormatError
    from invoice_archive.formats.xmlsafe import refuse_dtd

    checks: list[EepCheck] = []
    try:
        refuse_dtd(eep, "eep")   # an EEP we wrote has no DTD; nothing is ever expanded
        root = ET.fromstring(eep)
    except InvoiceFormatError:
        return [EepCheck("eep_xml", "fail", "封装包含 DTD 或实体声明，拒绝解析")]
    except ET.ParseError as exc:
        return [EepCheck("eep_xml", "fail", f"封装包不是格式良好的 XML: {exc}")]
    ns = f"{{{NAMESPACE}}}"
    if root.tag != ns + "电子文件封装包" or root.findtext(ns + "版本") != VERSION:
        return [EepCheck("eep_xml", "fail", "根元素或版本不是 DA/T 48-2009 电子文件封装包")]
    problems = validate_eep(eep)
    checks.append(EepCheck("eep_schema", "fail" if problems else "pass",
                           "不符合 DA/T 48 附录A 的模式：" + "；".join(problems[:20]) if problems
                           else "符合 DA/T 48-2009 附录A 的模式"))
    layers = _layers(eep)
    if not layers:
        return checks + [EepCheck("eep_structure", "fail", "找不到被签名对象或电子签名块")]
    signed_objects = list(root.iter(ns + "被签名对象"))
    blocks = list(root.iter(ns + "电子签名块"))   # document order: innermost layer first
    if len(signed_objects) != len(layers) or len(blocks) != len(layers):
        return checks + [EepCheck("eep_structure", "fail", "被签名对象与电子签名块的层次不对应")]
    for depth, (start, end, b_start, b_end) in enumerate(layers):
        block = blocks[len(layers) - 1 - depth]
        signature = block.find(ns + "电子签名")
        suffix = "" if depth == 0 else f"（第 {len(layers) - 1 - depth} 层原封装包）"
        code = "eep_signature" if depth == 0 else "eep_original_signature"
        key = public_key_pem
        if signature is not None:
            key, _ = _key_of(signature, ns, public_key_pem, checks,
                             "eep_certificate" if depth == 0 else "eep_original_certificate")
        check = _signature_check(signature, ns, eep[start:end], key, code)
        checks.append(EepCheck(check.code, check.result, check.detail + suffix))
        if depth == 0:
            lock = root.find(ns + "锁定签名")
            lock_check = _signature_check(lock, ns, eep[start:b_end], key, "eep_lock_signature")
            if lock is not None and signature is not None and lock_check.result == "pass":
                target = (lock.findtext(ns + "被锁定签名标识符") or "").strip()
                if target != (signature.findtext(ns + "签名标识符") or "").strip():
                    lock_check = EepCheck("eep_lock_signature", "fail", f"被锁定签名标识符 {target} 不是本封装包的电子签名")
            checks.append(lock_check)
    data_by_id = {}
    for data_el in root.iter(ns + "编码数据"):
        if (data_el.text or "").strip():
            data_by_id[data_el.get("编码数据ID")] = data_el
    notes = {}
    for note in root.iter(ns + "附注"):
        parts = (note.text or "").split()
        if len(parts) == 9 and parts[0] == "数字摘要":
            notes[parts[1]] = (parts[3], parts[6], parts[8])
    for encoding in root.iter(ns + "编码"):
        name = encoding.findtext(f"{ns}电子属性/{ns}计算机文件名") or "?"
        data_el = encoding.find(ns + "编码数据")
        if data_el is None:
            checks.append(EepCheck("eep_file", "fail", f"{name}: 缺少编码数据"))
            continue
        ref = data_el.get("引用编码数据ID")
        if ref and not (data_el.text or "").strip():
            if ref not in data_by_id:
                checks.append(EepCheck("eep_file", "fail", f"{name}: 引用的编码数据 {ref} 不在原封装包中"))
            continue   # the referenced original is checked as itself
        try:
            data = base64.b64decode(data_el.text or "", validate=True)
        except ValueError:
            checks.append(EepCheck("eep_file", "fail", f"{name}: 编码数据不是有效的 Base64"))
            continue
        size, sha, sm3 = notes.get(name, ("", "", ""))
        ok = (encoding.findtext(f"{ns}电子属性/{ns}计算机文件大小") == str(len(data)) == size
              and sha == sha256_hex(data) and sm3 == sm3_hex(data))
        checks.append(EepCheck("eep_file", "pass" if ok else "fail",
                               f"{name}: 大小与 SHA-256、SM3 摘要{'一致' if ok else '不一致'}"))
    return checks
