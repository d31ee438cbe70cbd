"""Steps of the journey over the HTTP API, shared by functional and acceptance tests."""
from __future__ import annotations

from decimal import Decimal
from typing import Any
from urllib.parse import quote

from tests.support.app import TestService
from tests.support.clamav import VIRUS_CHECKS, clamscan_installed


def post_invoice(svc: TestService, data: bytes, filename: str = "invoice.ofd", *, who: str = "张经办",
                 status: int | str = 201, content_type: str = "application/octet-stream") -> Any:
    return svc.app.post(f"/api/v1/invoices?filename={quote(filename)}", params=data, headers=svc.headers(who),
                        content_type=content_type, status=status)


def create_claim(svc: TestService, invoice_ids: list[int], *, who: str = "张经办", status: int | str = 201,
                 title: str = "差旅费报销", category: str = "travel") -> Any:
    return svc.app.post_json("/api/v1/claims", {"title": title, "expense_category": category,
                                                "invoice_ids": invoice_ids},
                             headers=svc.headers(who), status=status)


def approve_claim(svc: TestService, claim_id: int) -> dict[str, Any]:
    svc.app.post_json(f"/api/v1/claims/{claim_id}/submit", {}, headers=svc.headers("张经办"))
    svc.app.post_json(f"/api/v1/claims/{claim_id}/review", {"comment": "票据齐全"}, headers=svc.headers("李审核"))
    return svc.app.post_json(f"/api/v1/claims/{claim_id}/approve", {"comment": "同意"},
                             headers=svc.headers("陈审批")).json


def voucher_report(claim: dict[str, Any], *, number: str = "0001", year: int = 2024, period: int = 7,
                   date: str = "2024-07-20") -> dict[str, Any]:
    total = Decimal(claim["total"])
    return {
        "claim_number": claim["number"], "voucher_word": "记", "voucher_number": number,
        "fiscal_year": year, "period": period, "date": date, "external_ref": None,
        "prepared_by": "张会计", "reviewed_by": "李主管", "posted_by": "王记账",
        "entries": [
            {"summary": f"报销 {claim['title']}", "account_code": "6602.01", "account_name": "管理费用-差旅费",
             "debit": f"{total:.2f}", "credit": "0.00"},
            {"summary": f"报销 {claim['title']}", "account_code": "2241.01", "account_name": "其他应付款-员工",
             "debit": "0.00", "credit": f"{total:.2f}"},
        ],
    }


def post_voucher(svc: TestService, report: dict[str, Any], *, status: int | str = 201) -> Any:
    return svc.app.post_json("/api/v1/vouchers", report, headers=svc.headers("总账系统"), status=status)


def archive_period(svc: TestService, year: int = 2024, period: int = 7, *, status: int | str = 201) -> Any:
    prepare_archiving(svc, year, period)
    return svc.app.post_json("/api/v1/archive/runs", {"fiscal_year": year, "period": period},
                             headers=svc.headers("赵档案"), status=status)


def prepare_archiving(svc: TestService, year: int, period: int) -> None:
    """Where ClamAV is not installed, the virus checks cannot be performed and would
    block every item (docs/archive-waivers.md): the archivist waives them, through
    the API, for each voucher of the period not yet archived. Where ClamAV is
    installed (CI), nothing: the service scans (tests/support/clamav.py)."""
    if clamscan_installed() or svc.app_settings.archive.clamav.executable:
        return      # a scanner that runs, or one a test made unavailable on purpose
    from sqlalchemy import text

    with svc.engine.connect() as conn:
        pending = conn.execute(text(
            "SELECT v.id FROM vouchers v WHERE v.fiscal_year = :y AND v.period = :p AND NOT EXISTS "
            "(SELECT 1 FROM archive_items a WHERE a.voucher_id = v.id AND a.withdrawn_at IS NULL) AND NOT EXISTS "
            "(SELECT 1 FROM archive_check_waivers w WHERE w.voucher_id = v.id)"), {"y": year, "p": period}).scalars()
        ids = list(pending)
    for voucher_id in ids:
        svc.app.post_json("/api/v1/archive/waivers", {"voucher_id": voucher_id, "checks": list(VIRUS_CHECKS),
                                                      "reason": "测试机未安装 ClamAV，病毒检测无法执行"},
                          headers=svc.headers("赵档案"))
