"""Transfer (移交) of a year's archive to the archives department, and its check on
the receiving side (pure: no database).

The transfer package is a zip holding every item's package byte for byte under
items/, the transfer list (移交清册) as XML and CSV, and SHA-256 and SM3
manifests of everything. The receiver re-runs the four-property check on every
item against the list, so nothing rests on the sender's word.
"""
from __future__ import annotations

import csv
import datetime as dt
import io
import xml.etree.ElementTree as ET
import zipfile
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping

from invoice_archive.archive.checks import check_package, document_number
from invoice_archive.digests import sha256_hex, sm3_hex

LIST_FIELDS = ("archival_code", "title", "date", "fiscal_year", "period", "retention", "retention_until",
               "file_count", "byte_count", "package_sha256", "package_sm3")
LIST_LABELS = ("档号", "题名", "日期", "会计年度", "会计月份", "保管期限", "保管期限截止", "文件数", "字节数",
               "SHA256", "SM3")


@dataclass(frozen=True)
class TransferItem:
    row: Mapping[str, Any]      # the 移交清册 row (LIST_FIELDS)
    package: bytes              # the item's package as archived


def build_transfer(items: Iterable[TransferItem], *, fonds_code: str, org_name: str, fiscal_year: int,
                   created: dt.datetime, transferred_by: str) -> bytes:
    items = list(items)
    members: list[tuple[str, bytes]] = []
    for it in items:
        if sha256_hex(it.package) != it.row["package_sha256"]:
            raise ValueError(f"package of {it.row['archival_code']} does not match its recorded digest")
        members.append((f"items/{it.row['archival_code']}.zip", it.package))
    root = ET.Element("会计档案移交清册", {"全宗号": fonds_code, "全宗名称": org_name, "会计年度": str(fiscal_year),
                                       "移交时间": created.isoformat(), "移交人": transferred_by,
                                       "件数": str(len(items)),
                                       "总字节数": str(sum(int(i.row["byte_count"]) for i in items))})
    for it in items:
        ET.SubElement(root, "件", {label: str(it.row.get(name) or "") for name, label in zip(LIST_FIELDS, LIST_LABELS)})
    ET.indent(root)
    members.append(("移交清册.xml", ET.tostring(root, encoding="utf-8", xml_declaration=True) + b"\n"))
    text = io.StringIO()
    writer = csv.writer(text)
    writer.writerow(LIST_LABELS)
    for it in items:
        writer.writerow([it.row.get(name) or "" for name in LIST_FIELDS])
    members.append(("移交清册.csv", text.getvalue().encode("utf-8-sig")))
    for alg, fn in (("sha256", sha256_hex), ("sm3", sm3_hex)):
        members.append((f"manifest-{alg}.txt", "".join(f"{fn(d)}  {n}\n" for n, d in members
                                                       if not n.startswith("manifest-")).encode()))
    buf = io.BytesIO()
    stamp = created.astimezone(dt.timezone.utc).timetuple()[:6]
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in members:
            info = zipfile.ZipInfo(name, date_time=stamp)
            info.compress_type = zipfile.ZIP_STORED if name.endswith(".zip") else zipfile.ZIP_DEFLATED
            zf.writestr(info, data)
    return buf.getvalue()


@dataclass
class TransferReport:
    items: int = 0
    passed: int = 0
    problems: list[str] = field(default_factory=list)
    item_failures: dict[str, list[str]] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.problems and not self.item_failures

    def to_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "items": self.items, "passed": self.passed, "problems": self.problems,
                "item_failures": self.item_failures}


def _read(zf: zipfile.ZipFile, name: str, report: TransferReport) -> bytes | None:
    try:
        return zf.read(name)
    except (zipfile.BadZipFile, OSError, ValueError) as exc:   # a CRC error, a truncated member ...
        report.problems.append(f"{name} 已损坏，无法读出：{exc}")
        return None


def check_transfer(data: bytes, *, scanner: Any = None) -> TransferReport:
    """The receiving side's check (YJ): manifests, the list against the contents,
    and the four-property check of every item."""
    report = TransferReport()
    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile:
        report.problems.append("移交包不是有效的 ZIP 文件")
        return report
    with zf:
        names = set(zf.namelist())
        for alg, fn in (("sha256", sha256_hex), ("sm3", sm3_hex)):
            name = f"manifest-{alg}.txt"
            if name not in names:
                report.problems.append(f"缺少 {name}")
                continue
            listed = {}
            text = _read(zf, name, report)
            for line in (text or b"").decode("utf-8", "replace").splitlines():
                digest, _, path = line.partition("  ")
                listed[path] = digest
            for path, digest in listed.items():
                if path not in names:
                    report.problems.append(f"{name} 列出的 {path} 不在移交包中")
                    continue
                member = _read(zf, path, report)
                if member is not None and fn(member) != digest:
                    report.problems.append(f"{path} 的 {alg.upper()} 校验值不符")
            extra = names - set(listed) - {n for n in names if n.startswith("manifest-")}
            report.problems.extend(f"{path} 未列入 {name}" for path in sorted(extra))
        if "移交清册.xml" not in names:
            report.problems.append("缺少 移交清册.xml")
            return report
        listing = _read(zf, "移交清册.xml", report)
        if listing is None:
            return report
        root = ET.fromstring(listing)   # written by us; the manifests above guard it
        rows = [dict(zip(LIST_FIELDS, (el.get(label) for label in LIST_LABELS))) for el in root.findall("件")]
        report.items = len(rows)
        if root.get("件数") != str(len(rows)):
            report.problems.append(f"清册件数 {root.get('件数')} 与所列 {len(rows)} 件不符")
        listed_codes = {r["archival_code"] for r in rows}
        packaged = {n[len("items/"):-len(".zip")] for n in names if n.startswith("items/")}
        report.problems.extend(f"清册列出的 {c} 没有档案包" for c in sorted(listed_codes - packaged))
        report.problems.extend(f"档案包 {c} 未列入清册" for c in sorted(packaged - listed_codes))
        packages: dict[str, bytes | None] = {}
        numbers: dict[str, str | None] = {}
        for row in rows:
            name = f"items/{row['archival_code']}.zip"
            if name in names:
                packages[row["archival_code"]] = package = _read(zf, name, report)
                numbers[row["archival_code"]] = document_number(package) if package is not None else None
        for row in rows:
            code = row["archival_code"]
            if code not in packages:
                continue
            # GD-1-8: neither the 档号 nor the voucher number (文号) of one item is another's
            expected = {"archival_code": code, "file_count": int(row["file_count"]),
                        "byte_count": int(row["byte_count"]), "package_sha256": row["package_sha256"],
                        "package_sm3": row["package_sm3"], "item_count": 1,
                        "known_codes": listed_codes - {code},
                        "known_document_numbers": {n for c, n in numbers.items() if c != code and n}}
            package = packages[code]
            if package is None:
                report.item_failures[code] = ["unreadable"]
                continue
            result = check_package(package, expected, scanner=scanner)
            if result.passed:
                report.passed += 1
            else:
                report.item_failures[row["archival_code"]] = [c.code for c in result.failures]
    return report
