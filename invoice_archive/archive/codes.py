"""Archival codes (档号) per DA/T 94 8.7 and retention per 79号令 (docs/archival-codes.md)."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from invoice_archive.archive.retention import MINIMUM_YEARS

# 79号令 附表1 minimums (years; None = permanent), by record category: the table is
# invoice_archive.archive.retention (docs/retention.md); settings may only lengthen them
RETENTION_YEARS: dict[str, int | None] = dict(MINIMUM_YEARS)


def retention_code(years: int | None) -> str:
    return "Y" if years is None else f"D{years}"


def retention_until(fiscal_year: int, years: int | None) -> dt.date | None:
    """Retention counts from the first day after the fiscal year's end."""
    if years is None:
        return None
    return dt.date(fiscal_year + years, 12, 31)


@dataclass(frozen=True)
class ArchivalCode:
    fonds: str          # 全宗号
    class_code: str     # 类别号, e.g. PZ·2024·D30 (形式·年度·期限)
    volume: int         # 案卷号
    item: int           # 件号

    def __str__(self) -> str:
        return f"{self.fonds}-{self.class_code}-{self.volume:04d}-{self.item:04d}"


DEFAULT_CLASS_SCHEME = "PZ·{year}·{retention}"


def voucher_class_code(fiscal_year: int, years: int | None, scheme: str = DEFAULT_CLASS_SCHEME) -> str:
    """The 类别号 from a classification scheme (default 形式·年度·期限: PZ·2024·D30).
    Fields: {year}, {retention}. Parts are upper-case pinyin letters or digits joined by "·"."""
    code = scheme.format(year=fiscal_year, retention=retention_code(years))
    if not all(part and part.isascii() and part.replace("-", "").isalnum() and part == part.upper()
               for part in code.split("·")):
        raise ValueError(f"archive.class_scheme gives {code!r}: parts must be upper-case letters or digits joined by ·")
    return code
