"""``invoice-archive verify-report REPORT_DIR --public-key KEY``: an acceptance report
checked offline. Every file SHA256SUMS lists has its digest; SHA256SUMS is the file
whose SHA-256 the deployment signed (signature.json), under the key it publishes at
``/api/v1/bundle-key``. Pure: no network, no database."""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from invoice_archive.acceptance.report import REPORT_FILES, SIGNATURE, SUMS
from invoice_archive.bundle.statement import verify_statement

PASS, FAIL, WARN = "通过", "未通过", "提示"


@dataclass
class ReportCheck:
    lines: list[tuple[str, str]] = field(default_factory=list)
    statement: dict[str, Any] = field(default_factory=dict)

    def add(self, result: str, text: str) -> None:
        self.lines.append((result, text))

    @property
    def ok(self) -> bool:
        return bool(self.lines) and not any(r == FAIL for r, _ in self.lines)

    def to_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "checks": [{"result": r, "detail": t} for r, t in self.lines],
                "statement": self.statement}


def verify_report_dir(folder: Path, public_key_pem: bytes) -> ReportCheck:
    check = ReportCheck()
    sums_path = folder / SUMS
    if not sums_path.is_file():
        check.add(FAIL, f"缺少 {SUMS}：这不是一份完整的验收报告")
        return check
    sums = sums_path.read_bytes()
    listed: dict[str, str] = {}
    for line in sums.decode("ascii", "replace").splitlines():
        digest, _, name = line.partition("  ")
        if name:
            listed[name] = digest
    for name in REPORT_FILES:
        if name not in listed:
            check.add(FAIL, f"{SUMS} 未列出 {name}")
    for name, digest in listed.items():
        path = folder / name
        if "/" in name or "\\" in name or name.startswith("."):
            check.add(FAIL, f"{SUMS} 列出了报告目录之外的文件 {name}")
        elif not path.is_file():
            check.add(FAIL, f"{name} 缺失")
        elif hashlib.sha256(path.read_bytes()).hexdigest() != digest:
            check.add(FAIL, f"{name} 的 SHA-256 与 {SUMS} 不符：文件在报告生成后被改动")
        else:
            check.add(PASS, f"{name}：SHA-256 {digest[:16]}… 相符")
    extra = sorted(p.name for p in folder.iterdir() if p.is_file() and p.name not in listed
                   and p.name not in (SUMS, SIGNATURE))
    for name in extra:
        check.add(WARN, f"{name} 不在 {SUMS} 中，不受签名保护")
    signature_path = folder / SIGNATURE
    if not signature_path.is_file():
        check.add(FAIL, f"缺少 {SIGNATURE}：报告未经部署签名（部署未配置签名密钥，或签名请求被拒绝）")
        return check
    try:
        signed = json.loads(signature_path.read_text("utf-8"))
    except (ValueError, UnicodeDecodeError):
        check.add(FAIL, f"{SIGNATURE} 不是有效的 JSON")
        return check
    result = verify_statement(signed, public_key_pem, expected_sha256=hashlib.sha256(sums).hexdigest())
    check.statement = dict(result.statement)
    if result.ok:
        s = result.statement
        dep = s.get("deployment") or {}
        org = s.get("organisation") or {}
        check.add(PASS, f"部署签名有效：{s.get('algorithm')}，密钥指纹 {str(s.get('key_id'))[:16]}…，"
                        f"{s.get('signed_at')} 由 {s.get('requested_by')} 申请；"
                        f"{org.get('name')}（全宗号 {org.get('fonds_code')}），"
                        f"版本 {dep.get('version')}，配置 {dep.get('profile')}")
    for problem in result.problems:
        check.add(FAIL, problem)
    return check


__all__ = ["ReportCheck", "verify_report_dir"]
