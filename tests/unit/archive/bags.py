"""Archive packages for the tests, built the way ArchiveService builds them
(build_bag + item_metadata_xml), and ways to tamper with them."""
from __future__ import annotations

import datetime as dt
import io
import json
import zipfile
from collections.abc import Callable
from typing import Any

from invoice_archive.archive.metadata import claim_xml, item_metadata_xml, voucher_xml
from invoice_archive.archive.package import ManifestEntry, PackageFile, build_bag
from invoice_archive.digests import sha256_hex, sm3_hex
from invoice_archive.synth.ofd import build_ofd_invoice

CODE = "Z001-PZ·2024·D30-0007-0003"
CREATED = dt.datetime(2024, 8, 1, 9, 0, tzinfo=dt.UTC)
EICAR = b"X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"

VOUCHER = {
    "fiscal_year": 2024, "period": 7, "voucher_word": "记", "voucher_number": "0003", "date": "2024-07-31",
    "prepared_by": "张会计", "reviewed_by": "李审核", "posted_by": "王记账", "debit_total": "526.00",
    "credit_total": "526.00", "attachment_count": 1, "red_flag": "0", "external_ref": "IA-BX-2024-0003-1",
    "source_system": "kingdee", "claim_number": "BX-2024-0003",
    "entries": [{"line_no": 1, "summary": "差旅费", "account_code": "6602", "account_name": "管理费用",
                 "debit": "526.00", "credit": "0.00"},
                {"line_no": 2, "summary": "差旅费", "account_code": "1002", "account_name": "银行存款",
                 "debit": "0.00", "credit": "526.00"}],
}
CLAIM = {
    "number": "BX-2024-0003", "title": "7月北京出差", "expense_category": "travel", "claimant": "赵员工",
    "total": "526.00", "created_at": "2024-07-20T08:00:00+00:00", "status": "posted",
    "invoices": [{"business_key": "044002200111/12345678", "kind": "vat_general_e", "code": "044002200111",
                  "number": "12345678", "issue_date": "2024-07-15", "seller_name": "北京某酒店有限公司",
                  "seller_tax_id": "91110000MA00000000", "total": "526.00", "verdict": "valid",
                  "sha256": "", "sm3": ""}],
    "signoffs": [{"step": "submit", "actor": "赵员工", "role": "staff", "at": "2024-07-20T08:00:00+00:00"},
                 {"step": "approve", "actor": "钱经理", "role": "approver", "at": "2024-07-21T08:00:00+00:00"}],
}


def metadata(code: str = CODE, **over: Any) -> dict[str, Any]:
    fonds, cls, volume, item = code.split("-")
    m = {
        "source_system": "kingdee", "org_name": "南京测试买方有限公司", "archival_code": code, "fonds": fonds,
        "fiscal_year": 2024, "retention": "D30", "class_code": cls, "volume": volume, "item": item,
        "title": "7月北京出差（记-0003）", "date": "2024-07-31", "period": 7, "currency": "CNY",
        "prepared_by": "张会计", "reviewed_by": "李审核", "posted_by": "王记账", "retention_until": "2054-12-31",
        "prepared_on": "2024-07-31", "reviewed_on": "2024-07-31", "organisation_or_subject": "会计凭证",
        "signatures": [{"object": "12345678", "verdict": "valid", "verified_at": "2024-07-20T08:00:00+00:00",
                        "verifier": "invoice-archive 0.1.0", "rule": "GB/T 38540 电子印章",
                        "signed_at": "2024-07-15T10:00:00+08:00", "signer": "北京某酒店有限公司",
                        "certificate": "SHA-256:" + "ab" * 32 + " 序列号:01", "issuer": "测试 CA",
                        "algorithm": "1.2.156.10197.1.501"}],
        "tax_checks": [{"object": "12345678", "status": "normal", "checked_at": "2024-07-20T08:05:00+00:00",
                        "source": "fake", "discrepancies": ""}],
        "access": {"control": "内部", "grants": [{"to": "审计人员", "action": "查阅"},
                                                 {"to": "档案管理员", "action": "查阅"}]},
        "events": [{"action": "claim.submitted", "at": "2024-07-20T08:00:00+00:00", "actor": "赵员工",
                    "status": "历史行为", "basis": "财会〔2020〕6号（经办）"},
                   {"action": "claim.reviewed", "at": "2024-07-20T09:00:00+00:00", "actor": "李审核",
                    "status": "历史行为", "basis": "财会〔2020〕6号（审核）"},
                   {"action": "claim.approved", "at": "2024-07-21T08:00:00+00:00", "actor": "钱经理",
                    "status": "历史行为", "basis": "财会〔2020〕6号（审批）"},
                   {"action": "voucher.posted", "at": "2024-07-31T10:00:00+00:00", "actor": "金蝶",
                    "status": "历史行为", "basis": "会计基础工作规范"}],
        "relations": [{"type": "原始凭证", "target": "044002200111/12345678"}, {"type": "报销单", "target": "BX-2024-0003"}],
        "category": {"key": "voucher", "name": "记账凭证"},
        "storage_location": f"packages/{fonds}/2024/{code}.zip",
    }
    m.update(over)
    return m


def payload_files(code: str = CODE, *, original: bytes | None = None,
                  report: bytes | None = None) -> list[PackageFile]:
    original = build_ofd_invoice() if original is None else original
    report = report if report is not None else json.dumps(
        {"verdict": "valid", "verified_at": "2024-07-20T08:00:00+00:00"}, ensure_ascii=False).encode()
    return [
        PackageFile(f"{code}-01-记账凭证.xml", voucher_xml(VOUCHER), "voucher", "application/xml"),
        PackageFile(f"{code}-02-报销单.xml", claim_xml(CLAIM), "claim", "application/xml"),
        PackageFile(f"{code}-03-原始凭证-01.ofd", original, "original", "application/ofd"),
        PackageFile(f"{code}-04-验签报告-01.json", report, "verification", "application/json"),
    ]


def make_bag(code: str = CODE, files: list[PackageFile] | None = None, *,
             metadata_xml: Callable[[bytes], bytes] | None = None, **meta: Any) -> tuple[bytes, dict[str, Any]]:
    """(bag zip, the expectation an archive would hold for it)."""
    files = list(files if files is not None else payload_files(code))
    described = [ManifestEntry(path=f"data/{f.name}", role=f.role, media_type=f.media_type, size=len(f.data),
                               sha256=sha256_hex(f.data), sm3=sm3_hex(f.data)).as_dict() for f in files]
    xml = item_metadata_xml(metadata(code, **meta), described)
    if metadata_xml is not None:
        xml = metadata_xml(xml)
    files.append(PackageFile(f"{code}-metadata.xml", xml, "metadata", "application/xml"))
    bag, manifest = build_bag(code, files, {
        "Source-Organization": "南京测试买方有限公司", "External-Identifier": code,
        "External-Description": "记账凭证 记-0003 及其原始凭证", "Bag-Group-Identifier": code.split("-")[1],
    }, CREATED)
    entries = [m.as_dict() for m in manifest]
    expected = {
        "archival_code": code, "files": entries, "file_count": len(entries),
        "byte_count": sum(e["size"] for e in entries), "package_sha256": sha256_hex(bag),
        "package_sm3": sm3_hex(bag), "known_codes": {"Z001-PZ·2024·D30-0007-0001", "Z001-PZ·2024·D30-0007-0002"},
        "known_document_numbers": {"记-0001", "记-0002"}, "sequence": [1, 2, 3],
        "package_key": f"packages/Z001/2024/{code}.zip", "scope": {"fiscal_year": 2024, "period": 7},
    }
    return bag, expected


def members(bag: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(bag)) as zf:
        return {i.filename: zf.read(i) for i in zf.infolist()}


def rezip(bag: bytes, edit: Callable[[dict[str, bytes]], None]) -> bytes:
    """A valid zip with the members changed by ``edit`` (a tampered package)."""
    files = members(bag)
    edit(files)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in files.items():
            zf.writestr(name, data)
    return buf.getvalue()


def eicar_ndb(path: Any) -> Any:
    """A one-signature ClamAV database that finds the EICAR test string anywhere."""
    path.write_text(f"Invoice-Archive.Test.EICAR:0:*:{EICAR.hex()}\n", encoding="ascii")
    return path
