"""会计档案管理办法 附表1 in one table (docs/retention.md): every row, its minimum, and
what a setting may and may not do with it."""
from __future__ import annotations

import pytest

from invoice_archive.archive.codes import RETENTION_YEARS, retention_code, retention_until
from invoice_archive.archive.retention import (
    BY_NAME, CATEGORIES, FROM_DISPOSAL, at_least_minimum, retention_problem,
)

# 附表1 企业和其他组织会计档案保管期限表, row by row (rows 3-5 share one period: one key)
TABLE = {
    "原始凭证": 30, "记账凭证": 30, "总账、明细账、日记账": 30, "固定资产卡片": 5, "其他辅助性账簿": 30,
    "月度、季度、半年度财务会计报告": 10, "年度财务会计报告": None, "银行存款余额调节表": 10, "银行对账单": 10,
    "纳税申报表": 10, "会计档案移交清册": 30, "会计档案保管清册": None, "会计档案销毁清册": None,
    "会计档案鉴定意见书": None,
}


def test_the_table_is_the_regulations():
    assert {c.name: c.minimum for c in CATEGORIES.values()} == TABLE
    assert CATEGORIES["fixed_asset_card"].counted_from == FROM_DISPOSAL
    assert CATEGORIES["fixed_asset_card"].minimum_text == "报废清理后 5 年"
    assert {k: v for k, v in RETENTION_YEARS.items()} == {k: c.minimum for k, c in CATEGORIES.items()}
    assert BY_NAME["记账凭证"] == "voucher"


@pytest.mark.parametrize("key, years, ok", [
    ("voucher", 30, True), ("voucher", 31, True), ("voucher", None, True), ("voucher", 1, False),
    ("annual_report", None, True), ("annual_report", 200, False), ("fixed_asset_card", 5, True),
    ("fixed_asset_card", 4, False), ("tax_return", 10, True), ("tax_return", 9, False),
])
def test_longer_is_allowed_and_shorter_refused(key, years, ok):
    assert (retention_problem(key, years) is None) is ok


def test_an_unknown_category_is_named():
    assert "unknown record category 'contract'" in retention_problem("contract", 30)


@pytest.mark.parametrize("key, code, ok", [
    ("voucher", "D30", True), ("voucher", "D50", True), ("voucher", "Y", True), ("voucher", "D10", False),
    ("voucher", "X30", False), ("annual_report", "D100", False), ("annual_report", "Y", True),
])
def test_a_retention_code_keeps_the_record_long_enough(key, code, ok):
    assert at_least_minimum(key, code) is ok


def test_retention_counts_from_the_end_of_the_fiscal_year():
    assert retention_code(30) == "D30" and retention_code(None) == "Y"
    assert str(retention_until(2024, 30)) == "2054-12-31" and retention_until(2024, None) is None
