"""Retention minimums of 会计档案管理办法 (财政部 国家档案局令第79号), 附表1 (docs/retention.md).

The one table of the code: which accounting records there are (the archive's
scope, DA/T 70 GD-2-9) and how long each must be kept at the least. Settings
may lengthen a period (``archive.retention.<category>``), never shorten it:
:func:`retention_problem` says why a value is refused, and the settings parser
refuses it at start-up.

Periods count from the first day after the fiscal year ends, except the
fixed-asset card's, which counts from the asset's disposal (报废清理).
"""
from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType
from typing import Mapping

PERMANENT = None          # 永久
FROM_YEAR_END = "fiscal_year_end"
FROM_DISPOSAL = "disposal"


@dataclass(frozen=True)
class RecordCategory:
    key: str                  # the settings key: archive.retention.<key>
    name: str                 # 档案名称 as 附表1 names it
    group: str                # 附表1's group: 会计凭证 / 会计账簿 / 财务会计报告 / 其他会计资料
    row: int                  # 附表1's 序号
    minimum: int | None       # years; None = 永久
    counted_from: str = FROM_YEAR_END

    @property
    def minimum_text(self) -> str:
        if self.minimum is None:
            return "永久"
        if self.counted_from == FROM_DISPOSAL:
            return f"报废清理后 {self.minimum} 年"
        return f"{self.minimum} 年"


_TABLE = (
    RecordCategory("original_voucher", "原始凭证", "会计凭证", 1, 30),
    RecordCategory("voucher", "记账凭证", "会计凭证", 2, 30),
    RecordCategory("ledger", "总账、明细账、日记账", "会计账簿", 3, 30),   # rows 3-5, one period
    RecordCategory("fixed_asset_card", "固定资产卡片", "会计账簿", 6, 5, FROM_DISPOSAL),
    RecordCategory("auxiliary_ledger", "其他辅助性账簿", "会计账簿", 7, 30),
    RecordCategory("monthly_report", "月度、季度、半年度财务会计报告", "财务会计报告", 8, 10),
    RecordCategory("annual_report", "年度财务会计报告", "财务会计报告", 9, PERMANENT),
    RecordCategory("bank_reconciliation", "银行存款余额调节表", "其他会计资料", 10, 10),
    RecordCategory("bank_statement", "银行对账单", "其他会计资料", 11, 10),
    RecordCategory("tax_return", "纳税申报表", "其他会计资料", 12, 10),
    RecordCategory("transfer_list", "会计档案移交清册", "其他会计资料", 13, 30),
    RecordCategory("custody_list", "会计档案保管清册", "其他会计资料", 14, PERMANENT),
    RecordCategory("destruction_list", "会计档案销毁清册", "其他会计资料", 15, PERMANENT),
    RecordCategory("appraisal_opinion", "会计档案鉴定意见书", "其他会计资料", 16, PERMANENT),
)

#: key -> category, in 附表1 order
CATEGORIES: Mapping[str, RecordCategory] = MappingProxyType({c.key: c for c in _TABLE})
#: key -> minimum years (None = 永久): the defaults of archive.retention.<key>
MINIMUM_YEARS: Mapping[str, int | None] = MappingProxyType({c.key: c.minimum for c in _TABLE})
#: 档案名称 -> key (how an item's metadata names its category)
BY_NAME: Mapping[str, str] = MappingProxyType({c.name: c.key for c in _TABLE})


def retention_problem(key: str, years: int | None) -> str | None:
    """Why ``years`` (None = 永久) may not be the retention of category ``key``, or None."""
    category = CATEGORIES.get(key)
    if category is None:
        return f"unknown record category {key!r}; one of {', '.join(CATEGORIES)}"
    if category.minimum is None:
        if years is not None:
            return (f"{years} years is shorter than 永久 (permanent), which 会计档案管理办法 附表1 "
                    f"(row {category.row}) requires for {category.name}; give 永久 / permanent")
        return None
    if years is not None and years < category.minimum:
        return (f"{years} years is shorter than the {category.minimum} years 会计档案管理办法 附表1 "
                f"(row {category.row}) requires for {category.name} ({category.minimum_text}); "
                f"retention may be lengthened, never shortened")
    return None


def at_least_minimum(key: str, retention_code: str) -> bool:
    """Whether a retention code (``D30``, ``Y``) keeps category ``key`` at least as long as 附表1 asks."""
    category = CATEGORIES[key]
    if retention_code == "Y":
        return True
    if not (retention_code.startswith("D") and retention_code[1:].isdigit()):
        return False
    return category.minimum is not None and int(retention_code[1:]) >= category.minimum
