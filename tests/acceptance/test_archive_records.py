"""features/archive/records.feature: ledgers and reports exported by the accounting system, and
bank statements received through intake, archived with the retention of 附表1 (HTTP API only;
the accounting system is a fake on loopback whose books its accountants keep)."""
from __future__ import annotations

import io
import xml.etree.ElementTree as ET
import zipfile
from decimal import Decimal

import pytest
from pytest_bdd import given, parsers, scenarios, then, when

from invoice_archive.synth.bank import bank_statement
from tests.support.journey import post_invoice
from tests.support.records import accounting_settings, archive_records, book, fake_books

scenarios("archive/records.feature")


@pytest.fixture
def books():
    with fake_books() as server:
        yield server


@pytest.fixture
def service_overrides(books):
    return accounting_settings(books)


def _files(service, item_id: int) -> dict[str, bytes]:
    body = service.app.get(f"/api/v1/archive/items/{item_id}/package", headers=service.headers("王审计")).body
    with zipfile.ZipFile(io.BytesIO(body)) as zf:
        return {n.split("/", 1)[1]: zf.read(n) for n in zf.namelist()}


def _record(service, item_id: int) -> ET.Element:
    files = _files(service, item_id)
    [name] = [n for n in files if n.startswith("data/") and "-01-" in n]
    return ET.fromstring(files[name])


@given("记账系统中2024年6月有两张已过账的记账凭证")
def june(books) -> None:
    book(books, "IA-BX-2024-0101-v1", year=2024, period=6, amount="1060.00", tax="60.00")
    book(books, "IA-BX-2024-0102-v1", year=2024, period=6, day=26, amount="318.00", tax="18.00")


@given("记账系统中2024年12月有一张已过账的记账凭证")
def december(books) -> None:
    book(books, "IA-BX-2024-0103-v1", year=2024, period=12)


@given(parsers.parse('经办人"{who}"上传了2024年5月的银行电子对账单'))
def statement(service, ctx, who: str) -> None:
    ctx["statement"] = bank_statement(year=2024, month=5, closing_balance=Decimal("256000.00"))
    post_invoice(service, ctx["statement"], "bkrs_202405.xml", who=who, content_type="application/xml")


@when(parsers.re(r'档案员"(?P<who>\w+)"归档(?P<year>\d{4})年(?P<month>\d{1,2})月的会计账簿和财务会计报告'))
def archive(service, ctx, who: str, year: str, month: str) -> None:
    ctx["run"] = archive_records(service, int(year), int(month), who=who).json
    ctx["period"] = (int(year), int(month))
    ctx["items"] = {i["record_kind"]: i for i in ctx["run"]["archived"]}


@then(parsers.parse('总账归档为"{code}"，保管期限"{retention}"，至"{until}"'))
def general_ledger(ctx, code: str, retention: str, until: str) -> None:
    item = ctx["items"]["general_ledger"]
    assert (item["archival_code"], item["retention"], item["retention_until"]) == (code, retention, until)
    assert item["archive_class"] == "ZB" and item["category"] == "ledger"


@then(parsers.parse('明细账和银行存款日记账也归档为会计账簿，保管期限"{retention}"'))
def other_ledgers(ctx, retention: str) -> None:
    for kind in ("subsidiary_ledger", "bank_journal"):
        item = ctx["items"][kind]
        assert (item["archive_class"], item["retention"]) == ("ZB", retention)


@then(parsers.parse('月度、季度和半年度财务会计报告归档为"{cls}"类，保管期限"{retention}"，至"{until}"'))
def reports(ctx, cls: str, retention: str, until: str) -> None:
    for kind in ("monthly_report", "quarterly_report", "half_year_report"):
        item = ctx["items"][kind]
        assert (item["archive_class"], item["retention"], item["retention_until"]) == (cls, retention, until)


@then("每件档案都通过四性检测，归档的总账与记账系统中的总账逐行一致")
def ledger_is_the_systems(service, ctx, books) -> None:
    assert ctx["run"]["failed"] == []
    assert all(i["checks"]["registrable"] for i in ctx["run"]["archived"])
    [system] = [b for b in books.app.ledgers(*ctx["period"]) if b.kind == "general_ledger"]
    rows = [r for r in _record(service, ctx["items"]["general_ledger"]["id"]).iter("行")]
    assert [(r.get("科目编码"), r.get("摘要"), r.get("借方"), r.get("贷方"), r.get("余额")) for r in rows] == [
        (ln.account_code, ln.summary, f"{ln.debit:.2f}", f"{ln.credit:.2f}", f"{ln.balance:.2f}")
        for ln in system.lines]


@then("再次归档该期间不会重复归档")
def not_twice(service, ctx) -> None:
    again = archive_records(service, *ctx["period"]).json
    assert again["archived"] == [] and len(again["already_archived"]) == len(ctx["run"]["archived"])


@then(parsers.parse('年度财务会计报告归档为"{code}"，保管期限为永久'))
def annual(ctx, code: str) -> None:
    item = ctx["items"]["annual_report"]
    assert (item["archival_code"], item["retention"], item["retention_until"]) == (code, "Y", None)


@then("年度财务会计报告载明单位负责人、会计机构负责人和制表人，资产负债表左右平衡")
def annual_signed(service, ctx) -> None:
    root = _record(service, ctx["items"]["annual_report"]["id"])
    assert all(root.findtext(tag) for tag in ("单位负责人", "会计机构负责人", "编制人"))
    sheet = {i.get("项目名称"): i.get("本期金额") for i in root.find("报表[@类型='balance_sheet']")}
    assert sheet["资产总计"] == sheet["负债和所有者权益总计"]


@then(parsers.parse('银行对账单归档为"{code}"，保管期限"{retention}"'))
def statement_archived(ctx, code: str, retention: str) -> None:
    item = ctx["items"]["bank_statement"]
    assert (item["archival_code"], item["retention"], item["category"]) == (code, retention, "bank_statement")


@then("归档包中的原件与上传的文件逐字节相同")
def original_kept(service, ctx) -> None:
    files = _files(service, ctx["items"]["bank_statement"]["id"])
    [original] = [data for name, data in files.items() if "-02-原件" in name]
    assert original == ctx["statement"]
