"""DA/T 48-2009 electronic-record encapsulation (EEP), rendered from an archive package.

The archive package itself is a BagIt bag (package.py). For receivers that
expect the national XML encapsulation, one item's bag renders as one EEP
(DA/T 48-2009, docs/standards.md): root 电子文件封装包 in the namespace
``http://www.saac.gov.cn/standards/ERM/encapsulation`` with 封装包格式描述,
版本 2009, 被签名对象 (封装包类型 原始型, 创建时间, 创建单位, and 封装内容 with
文件实体块, 业务实体块, 机构人员实体块), then 电子签名块 and 锁定签名.

Every file of the bag's payload is embedded Base64-encoded, with its size and its
SHA-256 and SM3 digests. The 电子签名块 signs the bytes of the 被签名对象 element
as they stand in the file (from ``<被签名对象`` to ``</被签名对象>``); the
锁定签名 signs from ``<被签名对象`` to ``</电子签名块>``. Both use the service's
bundle key (Ed25519, or SM2-with-SM3), whose public key the API publishes, so
:func:`verify_eep` needs nothing from us but that key. Pure: no database.
"""
from __future__ import annotations

import base64
import datetime as dt
import xml.etree.ElementTree as ET
import zipfile
from dataclasses import dataclass
from io import BytesIO
from typing import Any

from invoice_archive.digests import sha256_hex, sm3_hex

NAMESPACE = "http://www.saac.gov.cn/standards/ERM/encapsulation"
VERSION = "2009"
FORMAT_DESCRIPTION = "本EEP根据中华人民共和国档案行业标准DA/T 48-2009《基于XML的电子文件封装规范》生成"
TYPE_DESCRIPTION = "本封装包包含电子文件数据及其元数据，原始封装，未经修改"
ENCODING_DESCRIPTION = "本封装包中“编码数据”元素存储的是计算机文件二进制流的Base64编码"
SIGNED_RULE = "对本文件中“被签名对象”元素（自 <被签名对象 起至 </被签名对象> 止）的 UTF-8 字节签名"
LOCK_RULE = "对本文件中自 <被签名对象 起至 </电子签名块> 止的 UTF-8 字节签名"
ALGORITHM_IDS = {"ed25519": "1.3.101.112", "sm2-sm3": "1.2.156.10197.1.501"}

_SIGNED_START, _SIGNED_END = "<被签名对象".encode(), "</被签名对象>".encode()
_BLOCK_END = "</电子签名块>".encode()


class EepError(ValueError):
    """The bag cannot be rendered, or a file is not an EEP this module wrote."""


@dataclass(frozen=True)
class EepCheck:
    code: str
    result: str        # pass | fail
    detail: str


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


def build_eep(bag_zip: bytes, *, unit_name: str, unit_code: str, created: dt.datetime, signer: Any) -> bytes:
    """Render one archive item's bag as a signed DA/T 48 EEP (UTF-8 XML bytes)."""
    bag, files = _payload(bag_zip)
    metadata_name = next((n for n, _ in files if n.endswith("-metadata.xml")), None)
    if metadata_name is None:
        raise EepError("归档包中没有元数据文件")
    metadata = ET.fromstring(dict(files)[metadata_name])   # our own file, already checked at archiving
    code_el = metadata.find("档号")
    archival_code = (code_el.text if code_el is not None else None) or bag

    signed = ET.Element("被签名对象", {"eep版本": VERSION})
    _add(signed, "封装包类型", "原始型")
    _add(signed, "封装包类型描述", TYPE_DESCRIPTION)
    _add(signed, "封装包创建时间", created.astimezone(dt.timezone.utc).isoformat(timespec="seconds"))
    _add(signed, "封装包创建单位", unit_name)
    content = _add(signed, "封装内容")

    records = _add(content, "文件实体块")
    record = _add(records, "文件实体")
    _add(record, "聚合层次", metadata.findtext("聚合层次") or "件")
    _add(record, "档号", archival_code)
    _add(record, "题名", metadata.findtext("题名"))
    _add(record, "全宗名称", metadata.findtext("全宗名称"))
    _add(record, "保管期限", code_el.get("保管期限") if code_el is not None else None)
    for n, (name, data) in enumerate(files, start=1):
        document = _add(record, "文档", None, 文档标识符=f"D{n:03d}")
        _add(document, "文档序号", n)
        data_el = _add(document, "文档数据", None, 文档数据标识符=f"D{n:03d}-1")
        encoding = _add(data_el, "编码", None, 编码标识符=f"D{n:03d}-1-1")
        _add(encoding, "编码描述", ENCODING_DESCRIPTION)
        encoded_meta = _add(encoding, "反映编码的元数据")
        _add(encoded_meta, "计算机文件名", name)
        _add(encoded_meta, "计算机文件大小", len(data))
        _add(encoded_meta, "格式信息", name.rsplit(".", 1)[-1].upper() if "." in name else "")
        _add(encoded_meta, "数字摘要", sha256_hex(data), 算法="SHA-256")
        _add(encoded_meta, "数字摘要", sm3_hex(data), 算法="SM3")
        _add(encoding, "编码数据", base64.b64encode(data).decode("ascii"))

    business = _add(content, "业务实体块")
    for n, event in enumerate(metadata.iter("业务行为"), start=1):
        entity = _add(business, "业务实体", None, 业务实体标识符=f"B{n:03d}")
        _add(entity, "业务状态", "归档")
        _add(entity, "业务行为", event.get("行为"))
        _add(entity, "行为时间", event.get("行为时间"))
        _add(entity, "行为依据", "财会〔2020〕6号；DA/T 94-2022")
        _add(entity, "行为描述", event.get("描述") or event.get("责任人"))

    people = _add(content, "机构人员实体块")
    unit = _add(people, "机构人员实体", None, 机构人员标识符="P001")
    _add(unit, "机构人员类型", "单位")
    _add(unit, "机构人员名称", unit_name)
    _add(unit, "组织机构代码", unit_code)
    actors = dict.fromkeys(e.get("责任人") for e in metadata.iter("业务行为") if e.get("责任人"))
    for n, actor in enumerate(actors, start=2):
        person = _add(people, "机构人员实体", None, 机构人员标识符=f"P{n:03d}")
        _add(person, "机构人员类型", "个人")
        _add(person, "机构人员名称", actor)

    signed_bytes = ET.tostring(signed, encoding="unicode").encode("utf-8")
    algorithm = signer.algorithm
    when = created.astimezone(dt.timezone.utc).isoformat(timespec="seconds")

    def signature_el(tag: str, sid: str, rule: str, data: bytes) -> ET.Element:
        el = ET.Element(tag)
        sig = _add(el, "电子签名", None, 签名标识符=sid) if tag == "电子签名块" else el
        _add(sig, "签名规则", rule)
        _add(sig, "签名时间", when)
        _add(sig, "签名人", f"invoice-archive（{unit_name}）")
        _add(sig, "签名结果", base64.b64encode(signer.sign(data)).decode("ascii"))
        certs = _add(sig, "证书块")
        _add(certs, "证书", base64.b64encode(signer.public_key_pem()).decode("ascii"), 类型="SubjectPublicKeyInfo PEM")
        _add(certs, "证书引证", signer.key_id())
        _add(sig, "签名算法标识", ALGORITHM_IDS.get(algorithm, algorithm), 算法=algorithm)
        return el

    block_bytes = ET.tostring(signature_el("电子签名块", "S1", SIGNED_RULE, signed_bytes),
                              encoding="unicode").encode("utf-8")
    lock_bytes = ET.tostring(signature_el("锁定签名", "L1", LOCK_RULE, signed_bytes + block_bytes),
                             encoding="unicode").encode("utf-8")
    head = ET.Element("电子文件封装包", {"xmlns": NAMESPACE})
    _add(head, "封装包格式描述", FORMAT_DESCRIPTION)
    _add(head, "版本", VERSION)
    opening = ET.tostring(head, encoding="unicode").removesuffix("</电子文件封装包>").encode("utf-8")
    return (b'<?xml version="1.0" encoding="UTF-8"?>\n' + opening + signed_bytes + block_bytes + lock_bytes
            + "</电子文件封装包>".encode("utf-8"))


def verify_eep(eep: bytes, public_key_pem: bytes) -> list[EepCheck]:
    """Check an EEP with nothing but the published key: both signatures over the
    bytes they name, and every embedded file against its recorded size and digests."""
    from invoice_archive.bundle.signing import SigningKeyError, verify_signature

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
    start, end = eep.find(_SIGNED_START), eep.find(_SIGNED_END)
    block_end = eep.find(_BLOCK_END)
    if min(start, end, block_end) < 0 or not start < end < block_end:
        return [EepCheck("eep_structure", "fail", "找不到被签名对象或电子签名块")]
    signed = eep[start:end + len(_SIGNED_END)]
    locked = eep[start:block_end + len(_BLOCK_END)]
    for code, path, data in (("eep_signature", f"{ns}电子签名块/{ns}电子签名", signed),
                             ("eep_lock_signature", f"{ns}锁定签名", locked)):
        el = root.find(path)
        if el is None:
            checks.append(EepCheck(code, "fail", "缺少签名"))
            continue
        algorithm = el.find(f"{ns}签名算法标识").get("算法", "") if el.find(f"{ns}签名算法标识") is not None else ""
        try:
            ok = verify_signature(public_key_pem, algorithm, data,
                                  base64.b64decode(el.findtext(f"{ns}签名结果") or "", validate=True))
        except (SigningKeyError, ValueError) as exc:
            checks.append(EepCheck(code, "fail", f"签名无法验证: {exc}"))
            continue
        checks.append(EepCheck(code, "pass" if ok else "fail",
                               "签名验证通过" if ok else "签名验证失败：签名范围内的内容被修改或不是本密钥所签"))
    for encoding in root.iter(ns + "编码"):
        meta = encoding.find(ns + "反映编码的元数据")
        name = meta.findtext(ns + "计算机文件名") if meta is not None else "?"
        try:
            data = base64.b64decode(encoding.findtext(ns + "编码数据") or "", validate=True)
        except ValueError:
            checks.append(EepCheck("eep_file", "fail", f"{name}: 编码数据不是有效的 Base64"))
            continue
        digests = {d.get("算法"): d.text for d in meta.iter(ns + "数字摘要")} if meta is not None else {}
        ok = (meta is not None and meta.findtext(ns + "计算机文件大小") == str(len(data))
              and digests.get("SHA-256") == sha256_hex(data) and digests.get("SM3") == sm3_hex(data))
        checks.append(EepCheck("eep_file", "pass" if ok else "fail",
                               f"{name}: 大小与 SHA-256、SM3 摘要{'一致' if ok else '不一致'}"))
    return checks
