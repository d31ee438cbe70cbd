"""The archive's own lists (pure): 会计档案鉴定意见书, 销毁清册, 移交清册, 保管清册.

会计档案管理办法 asks for each in writing (docs/disposition.md): appraisal ends in a
鉴定意见书 (第十六条), destruction needs a 销毁清册 listing each record with its
应保管期限, 已保管期限 and 销毁时间, signed by those who approved it and by the
监销人 (第十八条), a transfer is done against a 移交清册 with the same periods,
signed by both sides' 经办人 and the 监督人 (第十二条, 第二十四条), and records held
back for unsettled matters are named in the 鉴定意见书, the 销毁清册 and the 保管清册
(第十九条). Each list is itself archived: 移交清册 30 years, the others 永久
(附表1 rows 13-16).

A list is one XML document: root element named after the list, 文号, 题名, the
date, the items (件) each with 档号, 题名, category, 应保管期限, 保管期限截止 and
已保管期限, and the 签署 (who signed, in what capacity, when, with what opinion).
:func:`sign_list` signs the document's bytes with the service's key
(:mod:`invoice_archive.bundle.signing`) into a small JSON file filed beside it;
:func:`verify_list_signature` checks it offline.
"""
from __future__ import annotations

import base64
import datetime as dt
import json
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Mapping
from typing import Any

from invoice_archive.digests import sha256_hex

ITEM_FIELDS = (("档号", "archival_code"), ("题名", "title"), ("会计档案类别", "category"),
               ("会计年度", "fiscal_year"), ("应保管期限", "retention_text"), ("保管期限截止", "retention_until"),
               ("已保管期限", "kept_text"))


def years_kept(fiscal_year: int, on: dt.date) -> int:
    """Whole years a record of ``fiscal_year`` has been kept on ``on``: retention counts
    from the first day after the fiscal year ends (会计档案管理办法 第十四条)."""
    start = dt.date(fiscal_year + 1, 1, 1)
    return 0 if on < start else on.year - start.year


def retention_text(code: str) -> str:
    """D30 -> 30年, Y -> 永久."""
    return "永久" if code == "Y" else f"{int(code[1:])}年" if code[:1] == "D" and code[1:].isdigit() else code


def item_row(item: Mapping[str, Any], on: dt.date) -> dict[str, Any]:
    """A list's row of one archive item (keys of ITEM_FIELDS), as on ``on``."""
    until = item.get("retention_until")
    return {**item, "retention_text": retention_text(str(item["retention"])),
            "retention_until": until.isoformat() if isinstance(until, dt.date) else (until or "永久"),
            "kept_text": f"{years_kept(int(item['fiscal_year']), on)}年"}


def _add(parent: ET.Element, tag: str, value: Any = None, **attrs: Any) -> ET.Element:
    el = ET.SubElement(parent, tag, {k: "" if v is None else str(v) for k, v in attrs.items()})
    if value is not None:
        el.text = str(value)
    return el


def _dump(root: ET.Element) -> bytes:
    ET.indent(root)
    return ET.tostring(root, encoding="utf-8", xml_declaration=True) + b"\n"


def _document(root_name: str, *, number: str, title: str, org_name: str, fonds: str, on: dt.date,
              prepared_by: str, basis: str) -> ET.Element:
    root = ET.Element(root_name)
    for tag, value in (("文号", number), ("题名", title), ("全宗号", fonds), ("立档单位", org_name),
                       ("会计年度", on.year), ("会计期间", on.month), ("日期", on.isoformat()),
                       ("编制人", prepared_by), ("依据", basis)):
        _add(root, tag, value)
    return root


def _items(root: ET.Element, tag: str, rows: Iterable[Mapping[str, Any]],
           extra: Iterable[tuple[str, str]] = ()) -> int:
    rows = list(rows)
    parent = _add(root, tag, None, 件数=len(rows))
    for row in rows:
        _add(parent, "件", None, **{label: row.get(key, "") for label, key in (*ITEM_FIELDS, *extra)})
    return len(rows)


def _signoffs(root: ET.Element, signoffs: Iterable[Mapping[str, Any]]) -> None:
    parent = _add(root, "签署")
    for s in signoffs:
        _add(parent, "签名", None, 身份=s.get("capacity", ""), 姓名=s.get("name", ""), 部门=s.get("unit", ""),
             意见=s.get("opinion", ""), 时间=s.get("at", ""))


def appraisal_opinion_xml(*, number: str, org_name: str, fonds: str, on: dt.date, prepared_by: str,
                          participants: Iterable[Mapping[str, Any]], opinion: str,
                          rows: Iterable[Mapping[str, Any]]) -> bytes:
    """会计档案鉴定意见书: the items whose retention had ended on ``on``, each with the
    conclusion (销毁 / 继续保管 with its new end / 暂缓销毁 for an unsettled matter)."""
    root = _document("会计档案鉴定意见书", number=number, title=f"会计档案鉴定意见书（{number}）", org_name=org_name,
                     fonds=fonds, on=on, prepared_by=prepared_by,
                     basis="会计档案管理办法 第十六条、第十七条、第十九条")
    people = _add(root, "鉴定人员")
    for p in participants:
        _add(people, "人员", None, 姓名=p.get("name", ""), 部门=p.get("unit", ""))
    _add(root, "鉴定意见", opinion)
    rows = list(rows)
    _items(root, "鉴定结果", rows, (("鉴定结论", "conclusion"), ("理由", "reason"),
                                    ("重新划定保管期限截止", "new_retention_until")))
    counts = _add(root, "结论汇总")
    for conclusion in ("销毁", "继续保管", "暂缓销毁"):
        _add(counts, "结论", None, 类型=conclusion, 件数=sum(1 for r in rows if r.get("conclusion") == conclusion))
    return _dump(root)


def destruction_list_xml(*, number: str, org_name: str, fonds: str, on: dt.date, prepared_by: str,
                         appraisal_number: str, rows: Iterable[Mapping[str, Any]],
                         approvals: Iterable[Mapping[str, Any]], supervision: Iterable[Mapping[str, Any]] = (),
                         destroyed_at: str | None = None, held: Iterable[Mapping[str, Any]] = ()) -> bytes:
    """会计档案销毁清册 (第十八条): each item with 应保管期限, 已保管期限 and 销毁时间, the
    approvals, and once destroyed the 监销 record; items held back for unsettled matters
    are named apart (第十九条)."""
    root = _document("会计档案销毁清册", number=number, title=f"会计档案销毁清册（{number}）", org_name=org_name,
                     fonds=fonds, on=on, prepared_by=prepared_by, basis=f"会计档案鉴定意见书 {appraisal_number}")
    _add(root, "销毁时间", destroyed_at or "")
    _items(root, "拟销毁档案", [{**r, "destroyed_at": destroyed_at or ""} for r in rows], (("销毁时间", "destroyed_at"),))
    _items(root, "暂缓销毁档案", held, (("理由", "reason"),))
    _signoffs(root, approvals)
    supervise = _add(root, "监销")
    for s in supervision:
        _add(supervise, "监销人", None, 姓名=s.get("name", ""), 部门=s.get("unit", ""), 清点核对=s.get("checked", ""),
             时间=s.get("at", ""))
    return _dump(root)


def transfer_list_xml(*, number: str, org_name: str, fonds: str, on: dt.date, prepared_by: str,
                      fiscal_year: int, receiver_unit: str, rows: Iterable[Mapping[str, Any]],
                      signoffs: Iterable[Mapping[str, Any]]) -> bytes:
    """会计档案移交清册 (第十二条, 第二十四条): each item with 应保管期限 and 已保管期限,
    its package digests, and the sign-offs of the 移交人, 接收人 and 监交人."""
    root = _document("会计档案移交清册", number=number, title=f"{fiscal_year}年度会计档案移交清册（{number}）",
                     org_name=org_name, fonds=fonds, on=on, prepared_by=prepared_by,
                     basis="会计档案管理办法 第十二条、第二十四条")
    _add(root, "移交年度", fiscal_year)
    _add(root, "接收单位", receiver_unit)
    rows = list(rows)
    _items(root, "移交档案", rows, (("文件数", "file_count"), ("字节数", "byte_count"), ("SHA256", "package_sha256"),
                                   ("SM3", "package_sm3")))
    _add(root, "总字节数", sum(int(r.get("byte_count") or 0) for r in rows))
    _signoffs(root, signoffs)
    return _dump(root)


def custody_list_xml(*, number: str, org_name: str, fonds: str, on: dt.date, prepared_by: str, fiscal_year: int,
                     rows: Iterable[Mapping[str, Any]], held: Iterable[Mapping[str, Any]] = ()) -> bytes:
    """会计档案保管清册 (第十条, 第十九条): the year's archived items, and those held past
    their retention for unsettled matters."""
    root = _document("会计档案保管清册", number=number, title=f"{fiscal_year}年度会计档案保管清册（{number}）",
                     org_name=org_name, fonds=fonds, on=on, prepared_by=prepared_by,
                     basis="会计档案管理办法 第十条、第十九条")
    _add(root, "保管年度", fiscal_year)
    _items(root, "保管档案", rows, (("状态", "state"),))
    _items(root, "单独转存档案", held, (("理由", "reason"),))
    return _dump(root)


# -- the service's signature over a list ------------------------------------------------------------
def sign_list(data: bytes, signer: Any, *, signed_file: str) -> bytes:
    """A detached signature of a list's bytes with the service's key, as JSON."""
    return (json.dumps({"signed_file": signed_file, "sha256": sha256_hex(data), "algorithm": signer.algorithm,
                        "key_id": signer.key_id(),
                        "signature": base64.b64encode(signer.sign(data)).decode("ascii")},
                       ensure_ascii=False, indent=2, sort_keys=True) + "\n").encode("utf-8")


def verify_list_signature(data: bytes, signature: bytes, public_key_pem: bytes) -> list[str]:
    """What is wrong with a list's signature (empty when it holds)."""
    from invoice_archive.bundle.signing import key_fingerprint, verify_signature

    try:
        sig = json.loads(signature.decode("utf-8"))
        raw = base64.b64decode(sig["signature"], validate=True)
    except (ValueError, KeyError, TypeError, UnicodeDecodeError):
        return ["签名文件无法读取"]
    problems = []
    if sig.get("sha256") != sha256_hex(data):
        problems.append("签名文件记录的 SHA-256 与清册不符")
    if sig.get("key_id") != key_fingerprint(public_key_pem):
        problems.append("签名密钥与给出的公钥不符")
    elif not verify_signature(public_key_pem, str(sig.get("algorithm")), data, raw):
        problems.append("清册签名验证不通过")
    return problems


__all__ = ["ITEM_FIELDS", "appraisal_opinion_xml", "custody_list_xml", "destruction_list_xml", "item_row",
           "retention_text", "sign_list", "transfer_list_xml", "verify_list_signature", "years_kept"]
