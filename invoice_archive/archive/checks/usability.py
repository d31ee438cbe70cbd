"""可用性 (usability), DA/T 70-2018 items GD-3-*.

DA/T 70-2018 requires at archiving that an electronic record can be read and
used for as long as it is kept: its metadata can be read, its content is in
an open format (here OFD, PDF, XML or JSON, recognised by content and not by
file name) and opens and parses, and neither the package nor the files in it
are encrypted or compressed with a non-public algorithm.
"""
from __future__ import annotations

import io
import json
import re
import zipfile
from collections.abc import Iterable

from invoice_archive.formats import InvoiceFormatError, open_ofd, xmlsafe

from .context import Package, by_content, sniff
from .registry import FAIL, PASS, USABILITY, Outcome, check, outcome

PROPERTY = USABILITY


@check("GD-3-1", USABILITY, "元数据可读性（XML 可解析）")
def gd_3_1_metadata_parses(pkg: Package) -> Outcome:
    if pkg.metadata is None:
        return FAIL, pkg.metadata_error or "没有元数据"
    return PASS, f"{pkg.metadata_path} 为格式良好的 XML（未含 DTD/实体声明）"


@check("GD-3-3", USABILITY, "文件格式开放性")
def gd_3_3_open_formats(pkg: Package) -> Outcome:
    problems = []
    kinds: dict[str, int] = {}
    for rel in pkg.payload_names:
        data = pkg.members.get(rel)
        kind = sniff(data) if data is not None else None
        if kind is None:
            problems.append(f"{rel} 不是 OFD/PDF/XML/JSON 开放格式（按文件内容识别）")
        else:
            kinds[kind] = kinds.get(kind, 0) + 1
    summary = "、".join(f"{k.upper()} {v} 个" for k, v in sorted(kinds.items()))
    return outcome(problems, f"全部为开放格式：{summary}")


def _pdf_encrypted(data: bytes) -> bool:
    return re.search(rb"/Encrypt\b", data) is not None


@check("GD-3-4", USABILITY, "内容数据可读性")
def gd_3_4_readable(pkg: Package) -> Outcome:
    problems = []
    for rel in pkg.payload_names:
        data = pkg.members.get(rel)
        if data is None:
            problems.append(f"{rel} 无法从包中读出（{pkg.unreadable.get(rel)}）")
            continue
        # the same file, the same bytes: the same answer (the memo is keyed by both)
        problem = by_content(pkg, f"GD-3-4:{rel}", data, lambda d, rel=rel: _unreadable(rel, d))
        if problem is not None:
            problems.append(problem)
    return outcome(problems, f"{len(pkg.payload_names)} 个文件均可打开并解析")


def _unreadable(rel: str, data: bytes) -> str | None:
    """Why the file ``rel`` cannot be opened and parsed in its format, or None."""
    kind = sniff(data)
    try:
        if kind == "ofd":
            ofd = open_ofd(data)
            root_name = ofd.resolve_name("OFD.xml")
            if root_name is None:
                raise InvoiceFormatError("ofd_invalid", reason="缺少 OFD.xml")
            xmlsafe.parse(ofd[root_name], root_name)
            ofd.check_all()
        elif kind == "xml":
            xmlsafe.parse(data, rel)
        elif kind == "json":
            json.loads(data.decode("utf-8"))
        elif kind == "pdf" and b"%%EOF" not in data[-2048:]:
            return f"{rel} PDF 不完整（缺少 %%EOF）"
    except InvoiceFormatError as exc:
        return f"{rel}：{exc.message}"
    except (ValueError, UnicodeDecodeError) as exc:
        return f"{rel} 无法解析：{exc}"
    return None


def _zip_problems(label: str, infos: Iterable[zipfile.ZipInfo]) -> list[str]:
    problems = []
    for info in infos:
        if info.flag_bits & 0x1:
            problems.append(f"{label}{info.filename} 已加密")
        if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            problems.append(f"{label}{info.filename} 使用非公开/非通用压缩算法（方法 {info.compress_type}）")
    return problems


@check("GD-3-8", USABILITY, "无加密与非公开压缩")
def gd_3_8_no_encryption(pkg: Package) -> Outcome:
    with zipfile.ZipFile(io.BytesIO(pkg.raw)) as zf:
        problems = _zip_problems("归档包成员 ", zf.infolist())
    for rel in pkg.payload_names:
        data = pkg.members.get(rel)
        if data is None:
            continue
        kind = sniff(data)
        if kind == "ofd":
            with zipfile.ZipFile(io.BytesIO(data)) as inner:
                problems += _zip_problems(f"{rel} 内的 ", inner.infolist())
        elif kind == "pdf" and _pdf_encrypted(data):
            problems.append(f"{rel} PDF 已加密")
    return outcome(problems, "未发现加密或非公开压缩（仅存储/Deflate）")
