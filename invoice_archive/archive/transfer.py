"""Transfer (移交) of a year's archive to the archives unit, and its check on the receiving
side (pure: no database; docs/disposition.md).

The transfer package is a zip holding every item's package byte for byte under
items/, the signed 移交清册 (``移交清册.xml``, archive/lists.py, with 应保管期限,
已保管期限 and the sign-offs of the 移交人, 接收人 and 监交人; ``移交清册.sig.json``,
the service's signature over it; and the same rows as ``移交清册.csv``), the public
key that signed it, and SHA-256 and SM3 manifests of everything. The receiver
re-checks the signature with the key it obtained from the sender (not the one in the
package, which only says which key to expect), the list against the contents, and
every item's four properties, so nothing rests on the sender's word
(会计档案管理办法 第十二条: 准确性、完整性、可用性、安全性).
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
from invoice_archive.archive.lists import ITEM_FIELDS, verify_list_signature
from invoice_archive.digests import sha256_hex, sm3_hex

LIST_XML, LIST_SIG, LIST_CSV, LIST_KEY = "移交清册.xml", "移交清册.sig.json", "移交清册.csv", "移交清册签名公钥.pem"
PACKAGE_FIELDS = (("文件数", "file_count"), ("字节数", "byte_count"), ("SHA256", "package_sha256"),
                  ("SM3", "package_sm3"))
ROW_FIELDS = (*ITEM_FIELDS, *PACKAGE_FIELDS)


@dataclass(frozen=True)
class TransferItem:
    row: Mapping[str, Any]      # the 移交清册 row (ROW_FIELDS' keys)
    package: bytes              # the item's package as archived


def list_rows(list_xml: bytes) -> list[dict[str, str]]:
    """The items a 移交清册 lists, as dicts keyed like ROW_FIELDS."""
    root = ET.fromstring(list_xml)
    parent = root.find("移交档案")
    return [{key: el.get(label, "") for label, key in ROW_FIELDS} for el in
            (parent.findall("件") if parent is not None else [])]


def build_transfer(items: Iterable[TransferItem], *, list_xml: bytes, signature: bytes, public_key_pem: bytes,
                   created: dt.datetime) -> bytes:
    items = list(items)
    members: list[tuple[str, bytes]] = []
    for it in items:
        if sha256_hex(it.package) != it.row["package_sha256"]:
            raise ValueError(f"package of {it.row['archival_code']} does not match its recorded digest")
        members.append((f"items/{it.row['archival_code']}.zip", it.package))
    text = io.StringIO()
    writer = csv.writer(text)
    writer.writerow([label for label, _ in ROW_FIELDS])
    for row in list_rows(list_xml):
        writer.writerow([row[key] for _, key in ROW_FIELDS])
    members += [(LIST_XML, list_xml), (LIST_SIG, signature), (LIST_CSV, text.getvalue().encode("utf-8-sig")),
                (LIST_KEY, public_key_pem)]
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
    signature: str = "checked"     # not_checked: no public key was given
    problems: list[str] = field(default_factory=list)
    item_failures: dict[str, list[str]] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.problems and not self.item_failures

    def to_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "items": self.items, "passed": self.passed, "problems": self.problems,
                "item_failures": self.item_failures, "signature": self.signature}


def _read(zf: zipfile.ZipFile, name: str, report: TransferReport) -> bytes | None:
    try:
        return zf.read(name)
    except (zipfile.BadZipFile, OSError, ValueError) as exc:   # a CRC error, a truncated member ...
        report.problems.append(f"{name} 已损坏，无法读出：{exc}")
        return None


def check_transfer(data: bytes, *, scanner: Any = None, public_key_pem: bytes | None = None) -> TransferReport:
    """The receiving side's check (YJ): manifests, the list's signature (with the
    sender's published key, when given), the list against the contents, and the
    four-property check of every item."""
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
        if LIST_XML not in names:
            report.problems.append(f"缺少 {LIST_XML}")
            return report
        listing = _read(zf, LIST_XML, report)
        if listing is None:
            return report
        signature = _read(zf, LIST_SIG, report) if LIST_SIG in names else None
        if signature is None:
            report.problems.append(f"缺少清册签名 {LIST_SIG}")
        elif public_key_pem is not None:
            report.problems.extend(verify_list_signature(listing, signature, public_key_pem))
        else:
            report.signature = "not_checked"
        root = ET.fromstring(listing)   # written by us; the manifests and the signature guard it
        signers = {el.get("身份") for el in root.iterfind("签署/签名") if el.get("姓名")}
        missing = [r for r in ("移交人", "接收人", "监交人") if r not in signers]
        if missing:
            report.problems.append(f"移交清册缺少{'、'.join(missing)}的签名")
        rows = list_rows(listing)
        report.items = len(rows)
        declared = root.find("移交档案")
        if declared is None or declared.get("件数") != str(len(rows)):
            report.problems.append(f"清册件数 {declared.get('件数') if declared is not None else '?'} 与所列 {len(rows)} 件不符")
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
