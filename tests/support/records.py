"""The rest of the accounting archive over the HTTP API, shared by functional and acceptance
tests (docs/records.md, docs/disposition.md): a fake accounting system whose books the
service exports, bank statements through intake, and the steps of appraisal, destruction
and transfer as the people who take them."""
from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal
from typing import Any

from invoice_archive.synth.bank import bank_statement
from invoice_archive_adapters.generic_json import GenericJsonAdapter
from invoice_archive_adapters.testing.contract import make_draft
from invoice_archive_adapters.testing.fakes import FakeServer
from invoice_archive_adapters.testing.fakes.generic_json import GenericJsonFake
from tests.support.app import TestService
from tests.support.clamav import VIRUS_CHECKS, clamscan_installed
from tests.support.journey import post_invoice

TOKEN = "records-test-token"
#: the people of the archive's lists, beside tests.support.app.PEOPLE
LIST_PEOPLE = {"钱会计": "finance", "孙主管": "approver", "周负责人": "approver", "吴档案": "archivist"}
APPRAISERS = [{"name": "赵档案", "unit": "档案管理机构"}, {"name": "钱会计", "unit": "会计管理机构"},
              {"name": "郑审计", "unit": "审计机构"}]
SUPERVISORS = [{"name": "吴档案", "unit": "档案管理机构"}, {"name": "钱会计", "unit": "会计管理机构"},
               {"name": "冯信息", "unit": "信息系统管理机构"}]


@contextmanager
def fake_books() -> Iterator[FakeServer]:
    """A generic-JSON accounting system on loopback, whose ledgers and reports the service exports."""
    with FakeServer(GenericJsonFake(token=TOKEN)) as server:
        yield server


def accounting_settings(server: FakeServer) -> dict[str, str]:
    return {"accounting.backend": "invoice_archive_adapters.generic_json.GenericJsonAdapter",
            "accounting.url": server.url, "accounting.token": TOKEN,
            "posting.account.expense.default": "6602", "posting.account.input_vat": "22210101",
            "posting.account.credit": "2241"}


def book(server: FakeServer, ref: str, *, year: int, period: int, day: int = 20, amount: str = "1060.00",
         tax: str = "60.00") -> None:
    """A voucher entered and posted (记账) in the accounting system, as its accountants do."""
    adapter = GenericJsonAdapter({"url": server.url, "token": TOKEN})
    try:
        result = adapter.post(make_draft(ref, year=year, period=period, day=day, amount=amount, tax=tax))
        assert result.posted, result
    finally:
        adapter.close()
    server.app.ledger.post_all()


def waive(svc: TestService) -> dict[str, Any]:
    """Where ClamAV is not installed, the archivist's waiver of the virus checks, given with the
    request (docs/archive-waivers.md); where it is (CI), nothing: the service scans."""
    if clamscan_installed() or svc.app_settings.archive.clamav.executable:
        return {}
    return {"waive": {"checks": list(VIRUS_CHECKS), "reason": "测试机未安装 ClamAV，病毒检测无法执行"}}


def archive_records(svc: TestService, year: int, period: int, *, who: str = "赵档案", status: int | str = 201,
                    **body: Any) -> Any:
    return svc.app.post_json("/api/v1/archive/records", {"fiscal_year": year, "period": period, **waive(svc), **body},
                             headers=svc.headers(who), status=status)


def receive_statement(svc: TestService, *, year: int, month: int, account: str = "6216600000000000001",
                      balance: str = "128000.00") -> dict[str, Any]:
    data = bank_statement(year=year, month=month, account=account, closing_balance=Decimal(balance))
    return post_invoice(svc, data, f"bkrs_{year}{month:02d}.xml", content_type="application/xml").json


def add_people(svc: TestService) -> None:
    for who, role in LIST_PEOPLE.items():
        if who not in svc.tokens:
            svc.add_person(who, role)


def hold(svc: TestService, item_id: int, reason: str = "对方单位尚欠货款 12,000.00 元，诉讼未结", *,
         who: str = "李审核", status: int | str = 201) -> Any:
    return svc.app.post_json("/api/v1/archive/holds", {"item_id": item_id, "matter": "unsettled_debt",
                                                       "reason": reason}, headers=svc.headers(who), status=status)


def appraise(svc: TestService, *, who: str = "赵档案", status: int | str = 201, **body: Any) -> Any:
    return svc.app.post_json("/api/v1/archive/appraisals", {"participants": APPRAISERS,
                                                            "opinion": "经鉴定，所列保管期满的会计档案已无保存价值，可以销毁；"
                                                                       "涉及未结清债权债务的，暂缓销毁。",
                                                            **waive(svc), **body},
                             headers=svc.headers(who), status=status)


def propose(svc: TestService, appraisal_id: int, *, who: str = "赵档案", status: int | str = 201, **body: Any) -> Any:
    return svc.app.post_json("/api/v1/archive/destructions", {"appraisal_id": appraisal_id, **body},
                             headers=svc.headers(who), status=status)


def approve(svc: TestService, destruction_id: int, who: str, capacity: str, *, status: int | str = 200) -> Any:
    return svc.app.post_json(f"/api/v1/archive/destructions/{destruction_id}/approve",
                             {"capacity": capacity, "opinion": "同意销毁"}, headers=svc.headers(who), status=status)


def execute(svc: TestService, destruction_id: int, counted: int, *, who: str = "赵档案",
            status: int | str = 202) -> Any:
    return svc.app.post_json(f"/api/v1/archive/destructions/{destruction_id}/execute",
                             {"supervisors": SUPERVISORS, "counted": counted, **waive(svc)},
                             headers=svc.headers(who), status=status)


def china_today() -> dt.date:
    return dt.datetime.now(dt.timezone(dt.timedelta(hours=8))).date()


__all__ = ["APPRAISERS", "SUPERVISORS", "accounting_settings", "add_people", "appraise", "approve", "archive_records",
           "book", "china_today", "execute", "fake_books", "hold", "propose", "receive_statement", "waive"]
