"""The item metadata's schema, as the checks GD-1-2 to GD-1-6 hold it against.

DA/T 70-2018 checks each metadata value for its length (GD-1-2), its type and
format (GD-1-3), its value range (GD-1-4), its reasonableness against the other
values (GD-1-5) and special characters (GD-1-6). The schema is the project's
own, written for the metadata :func:`invoice_archive.archive.metadata.item_metadata_xml`
writes (DA/T 94-2022 Appendix A elements; docs/standards.md): the lengths are the
widths the database keeps for the same facts, the types those of the values.

A field is an element (``会计年度``), an element's attribute (``档号@件号``) or
an attribute of repeated elements (``计算机文件/文件@计算机文件大小``).
"""
from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from invoice_archive.formats import xmlsafe
from invoice_archive.verification.report import VERDICTS   # signature verdicts (docs/signatures.md)

from ..retention import BY_NAME, CATEGORIES
from .context import element

# kinds of value (GD-1-3)
TEXT, DATE, DATETIME, YEAR, INT, PATTERN = "text", "date", "datetime", "year", "int", "pattern"

# record: a ledger, report, bank statement or list as XML (docs/records.md); signature: the
# service's signature over a list (archive/lists.py); posting_info: the 入账信息结构化数据文件
ROLES = frozenset({"voucher", "claim", "original", "verification", "posting_info", "attachment", "metadata",
                   "record", "signature"})
# the tax platform's 查验 answers (docs/tax-platform.md), ours (mismatch), and none asked
TAX_STATUSES = frozenset({"normal", "voided", "red_reversed", "not_found", "mismatch", "not_checkable_online",
                          "unavailable", "not_checked"})
RELATIONS = frozenset({"原始凭证", "报销单", "冲销", "被冲销", "原件", "依据"})


@dataclass(frozen=True)
class Field:
    path: str                          # element path, "@attr" for an attribute
    max_length: int                    # GD-1-2
    kind: str = TEXT                   # GD-1-3
    pattern: str | None = None         # GD-1-3 for PATTERN
    minimum: int | None = None         # GD-1-4 for INT / YEAR
    maximum: int | None = None
    domain: frozenset[str] | None = None   # GD-1-4: the values allowed
    single_line: bool = True           # GD-1-6: no line breaks or tabs


FIELDS = (
    Field("聚合层次", 4, domain=frozenset({"件", "卷"})),
    Field("来源/获取方式", 20),
    Field("来源/源系统", 64),
    Field("全宗名称", 200),
    Field("立档单位名称", 200),
    Field("档号", 80),
    Field("档号@全宗号", 20, PATTERN, r"[A-Z0-9]+"),
    Field("档号@年度", 4, YEAR, minimum=1990, maximum=2200),
    Field("档号@保管期限", 4, PATTERN, r"D[1-9]\d{0,2}|Y"),
    Field("档号@类别号", 40),
    Field("档号@案卷号", 4, PATTERN, r"\d{4}"),
    Field("档号@件号", 4, PATTERN, r"\d{4}"),
    Field("档号@机构或问题", 40),
    Field("题名", 300),
    Field("责任者", 200),
    Field("日期", 10, DATE),
    Field("会计年度", 4, YEAR, minimum=1990, maximum=2200),
    Field("会计月份", 2, INT, minimum=1, maximum=12),
    Field("本位币", 3, PATTERN, r"[A-Z]{3}"),
    Field("编制人", 100),
    Field("编制日期", 10, DATE),
    Field("审核人", 100),
    Field("审核日期", 10, DATE),
    Field("记账人", 100),
    Field("保管期限截止", 10, DATE),
    Field("会计档案类别", 40, domain=frozenset(BY_NAME)),
    Field("会计档案类别@代码", 40, domain=frozenset(CATEGORIES)),
    Field("存储位置", 255),
    Field("权限管理/控制标识", 20),
    Field("权限管理/授权@授权对象", 40),
    Field("权限管理/授权@授权行为", 20),
    Field("计算机文件/文件@计算机文件名", 255, PATTERN, r"data/[^/].*"),
    Field("计算机文件/文件@计算机文件大小", 15, INT, minimum=0),
    Field("计算机文件/文件@格式信息", 64, PATTERN, r"[a-z]+/[a-z0-9.+-]+"),
    Field("计算机文件/文件@角色", 20, domain=ROLES),
    Field("计算机文件/文件@SHA256", 64, PATTERN, r"[0-9a-f]{64}"),
    Field("计算机文件/文件@SM3", 64, PATTERN, r"[0-9a-f]{64}"),
    Field("电子签名/签名@对象", 64),
    Field("电子签名/签名@结果", 32, domain=VERDICTS),
    Field("电子签名/签名@校验时间", 40, DATETIME),
    Field("电子签名/签名@校验程序", 100),
    Field("电子签名/签名@签名规则", 100),
    Field("电子签名/签名@签名时间", 40),
    Field("电子签名/签名@签名人", 200),
    Field("电子签名/签名@证书", 200),
    Field("电子签名/签名@证书颁发者", 400),
    Field("电子签名/签名@签名算法", 100),
    Field("税务查验/查验@对象", 64),
    Field("税务查验/查验@状态", 24, domain=TAX_STATUSES),
    Field("税务查验/查验@查验时间", 40, DATETIME),
    Field("税务查验/查验@来源", 40),
    Field("税务查验/查验@差异", 1000, single_line=False),
    Field("四性检测@检测时间", 40, DATETIME),
    Field("四性检测@结论", 40, domain=frozenset({"通过", "通过（部分检测项经豁免）", "未通过"})),
    Field("四性检测/检测项@代码", 10, PATTERN, r"GD-\d-\d{1,2}"),
    Field("四性检测/检测项@结果", 16, domain=frozenset({"pass", "fail", "not_performed"})),
    Field("四性检测/豁免@理由", 1000, single_line=False),
    Field("业务实体/业务行为@行为", 64),
    Field("业务实体/业务行为@行为时间", 40, DATETIME),
    Field("业务实体/业务行为@责任人", 100),
    Field("业务实体/业务行为@描述", 1000, single_line=False),
    Field("业务实体/业务行为@状态", 8, domain=frozenset({"历史行为", "计划任务"})),
    Field("业务实体/业务行为@依据", 200),
    Field("关系实体/关系@类型", 20, domain=RELATIONS),
    Field("关系实体/关系@对象", 100),
    Field("关系实体/关系@档号", 80),
)


def values(root: Any, field: Field) -> Iterator[tuple[str, str]]:
    """(label, value) of every occurrence of ``field`` in the metadata; absent ones are skipped
    (GD-2-3 and GD-2-4 report what is missing)."""
    path, _, attr = field.path.partition("@")
    parent_path, _, leaf = path.rpartition("/")
    parent = element(root, parent_path) if parent_path else root
    if parent is None:
        return
    for n, el in enumerate(xmlsafe.findall(parent, leaf), start=1):
        label = field.path if not parent_path else f"{field.path}[{n}]"
        if attr:
            value = el.get(attr)
            if value is None:   # a namespaced attribute: compare local names
                value = next((v for k, v in el.attrib.items() if xmlsafe.local(k) == attr), None)
            if value is not None:
                yield label, value
        else:
            yield label, (el.text or "").strip()


def type_problem(field: Field, value: str) -> str | None:
    """Why ``value`` is not of the field's type and format (GD-1-3), or None."""
    if value == "":
        return None
    if field.kind == DATE:
        if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
            return "不是 YYYY-MM-DD 日期"
        try:
            dt.date.fromisoformat(value)
        except ValueError:
            return "不是有效日期"
    elif field.kind == DATETIME:
        try:
            parsed = dt.datetime.fromisoformat(value)
        except ValueError:
            return "不是 ISO 8601 日期时间"
        if parsed.tzinfo is None:
            return "日期时间未注明时区"
    elif field.kind in (INT, YEAR):
        if not re.fullmatch(r"\d+", value):
            return "不是整数"
        if field.kind == YEAR and len(value) != 4:
            return "不是 4 位年度"
    elif field.kind == PATTERN and field.pattern and not re.fullmatch(field.pattern, value):
        return f"格式不符（应为 {field.pattern}）"
    return None


def range_problem(field: Field, value: str) -> str | None:
    """Why ``value`` is outside the field's range or domain (GD-1-4), or None. Values
    of the wrong type are GD-1-3's finding and are not judged here."""
    if value == "" or type_problem(field, value):
        return None
    if field.domain is not None and value not in field.domain:
        return f"“{value}”不在值域内（{'、'.join(sorted(field.domain))}）"
    if field.kind in (INT, YEAR):
        number = int(value)
        if field.minimum is not None and number < field.minimum:
            return f"{number} 小于下限 {field.minimum}"
        if field.maximum is not None and number > field.maximum:
            return f"{number} 大于上限 {field.maximum}"
    return None


# GD-1-6: characters that never belong in a metadata value: C0/C1 controls (line breaks
# and tabs only in multi-line fields), the replacement character (a value read in the
# wrong encoding), private-use characters and non-characters, and the invisible
# format characters that can make a value read differently from what it is
# (zero-width, bidirectional overrides and isolates, the BOM inside a value).
_INVISIBLE = {0x200B: "零宽空格", 0x200C: "零宽非连接符", 0x200D: "零宽连接符", 0x200E: "从左至右标记",
              0x200F: "从右至左标记", 0x2060: "字连接符", 0xFEFF: "BOM"}
_INVISIBLE.update({c: "双向文本控制符" for c in (*range(0x202A, 0x202F), *range(0x2066, 0x206A))})
# characters file systems refuse in names (档号 and 计算机文件名 name files and folders)
FILE_NAME_FORBIDDEN = set('\\:*?"<>|')


def _special_class(line_breaks: bool) -> re.Pattern[str]:
    """One character class for everything :func:`special_characters` names, so that
    a clean value (nearly all of them) is passed in C."""
    ranges = ["\x00-\x08", "\x0b\x0c", "\x0e-\x1f", "\x7f-\x9f", "\ufffd", "\ue000-\uf8ff",
              "\U000f0000-\U0010ffff", "\ufdd0-\ufdef"]
    ranges += [re.escape(chr(plane * 0x10000 + low)) for plane in range(17) for low in (0xFFFE, 0xFFFF)]
    ranges += [re.escape(chr(cp)) for cp in _INVISIBLE]
    if line_breaks:
        ranges.append("\t\n\r")
    return re.compile("[" + "".join(ranges) + "]")


_SPECIAL = {True: _special_class(True), False: _special_class(False)}


def may_hold_special_characters(value: str) -> bool:
    """False when ``value`` holds none of the characters :func:`special_characters`
    names even in a single-line field (the stricter rule), so it passes in any field.
    Joined values can be asked at once: no two characters make a special one."""
    return _SPECIAL[True].search(value) is not None


def special_characters(value: str, *, single_line: bool = True) -> list[str]:
    """The special characters in ``value``, described (GD-1-6)."""
    if _SPECIAL[single_line].search(value) is None:
        return []
    return _described(value, single_line)


def _described(value: str, single_line: bool) -> list[str]:
    found = []
    for ch in value:
        cp = ord(ch)
        if ch in "\n\r\t":
            if single_line:
                found.append(f"换行或制表符 U+{cp:04X}")
        elif cp < 0x20 or 0x7F <= cp <= 0x9F:
            found.append(f"控制字符 U+{cp:04X}")
        elif cp == 0xFFFD:
            found.append("替换字符 U+FFFD（编码错误）")
        elif 0xE000 <= cp <= 0xF8FF or 0xF0000 <= cp:
            found.append(f"私用区字符 U+{cp:04X}")
        elif 0xFDD0 <= cp <= 0xFDEF or (cp & 0xFFFE) == 0xFFFE:
            found.append(f"非字符 U+{cp:04X}")
        elif cp in _INVISIBLE:
            found.append(f"{_INVISIBLE[cp]} U+{cp:04X}")
    return list(dict.fromkeys(found))
