"""The business rules, one function each, registered with a stable code.

Each rule takes the invoice and the context and returns a :class:`RuleResult`.
A value the invoice does not carry (a tax printed as ``***``, no lines, no
buyer tax ID on a bank receipt) makes the rule ``not_applicable``: it never
raises for missing data. The one exception is the 价税合计 of an invoice: every
invoice carries it, so a rule that needs it and cannot read it fails (an
unreadable total must never let the rules pass unchecked).
"""
from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from invoice_archive.formats.model import KIND_LABELS, InvoiceDocument

from .model import Result, RuleResult, RulesContext
from .words import AmountWordsError, parse_rmb_words, rmb_words

INVOICE_FAMILIES = frozenset({"coded_invoice", "numbered_invoice"})
_BRACKETS = str.maketrans({"[": "(", "]": ")", "【": "(", "】": ")", "〔": "(", "〕": ")", "（": "(", "）": ")"})


@dataclass(frozen=True)
class Rule:
    """A named check with a stable code (for machines, logs and settings)."""

    code: str
    title: str
    check: Callable[[InvoiceDocument, RulesContext], RuleResult]

    def __call__(self, doc: InvoiceDocument, ctx: RulesContext) -> RuleResult:
        return self.check(doc, ctx)


RULES: dict[str, Rule] = {}


def rule(code: str, title: str) -> Callable[[Callable[..., tuple]], Rule]:
    """Register ``func(doc, ctx) -> (result, message, details)`` as rule ``code``."""

    def decorate(func: Callable[..., tuple]) -> Rule:
        def check(doc: InvoiceDocument, ctx: RulesContext) -> RuleResult:
            result, message, details = func(doc, ctx)
            return RuleResult(code=code, title=title, result=result, message=message, details=details)

        check.__name__ = func.__name__
        check.__doc__ = func.__doc__
        registered = Rule(code, title, check)
        if code in RULES:  # pragma: no cover - programming error
            raise ValueError(f"duplicate rule code {code!r}")
        RULES[code] = registered
        return registered

    return decorate


def _na(message: str, **details: Any) -> tuple[Result, str, dict[str, Any]]:
    return Result.NOT_APPLICABLE, message, details


def _no_total(doc: InvoiceDocument, why: str, **details: Any) -> tuple[Result, str, dict[str, Any]]:
    """价税合计 missing: a failure for an invoice (it always carries one), not
    applicable for a bank receipt or statement."""
    if doc.family in INVOICE_FAMILIES:
        return (Result.FAIL, f"未能读取发票的价税合计，{why}。请向开票方索取完整、正确的发票文件。",
                {"total": None, **details})
    return _na(f"未载明价税合计，{why}。", **details)


def _money(value: Decimal | None) -> str:
    return "—" if value is None else f"{value:,.2f}"


def _invoice_label(doc: InvoiceDocument) -> str:
    number = doc.business_key or "（号码未识别）"
    return f"{KIND_LABELS.get(doc.kind, doc.kind)} {number}"


# -- arithmetic ---------------------------------------------------------------------


@rule("lines_amount_sum", "明细金额合计")
def lines_amount_sum(doc: InvoiceDocument, ctx: RulesContext):
    """The line amounts add up exactly to 合计金额 (excluding tax)."""
    if not doc.lines:
        return _na("发票没有可读的明细行，无需核对明细金额合计。")
    if doc.amount_excl_tax is None:
        return _na("发票未载明合计金额（不含税），无法核对明细金额合计。")
    missing = [i for i, line in enumerate(doc.lines, 1) if line.amount is None]
    if missing:
        return _na(f"第 {_rows(missing)} 行明细金额缺失（如 ***），无法核对明细金额合计。", rows=missing)
    total = sum((line.amount for line in doc.lines), Decimal(0))  # type: ignore[misc]
    details = {"lines_sum": total, "amount_excl_tax": doc.amount_excl_tax, "line_count": len(doc.lines)}
    if total == doc.amount_excl_tax:
        return Result.PASS, f"{len(doc.lines)} 行明细金额合计 {_money(total)}，与合计金额一致。", details
    return (Result.FAIL,
            (f"明细金额合计 {_money(total)} 与发票合计金额 {_money(doc.amount_excl_tax)} 不一致"
            f"（相差 {_money(total - doc.amount_excl_tax)}）。发票可能被篡改或识别有误，请核对发票原件或联系开票方。"),
            details)


@rule("lines_tax_sum", "明细税额合计")
def lines_tax_sum(doc: InvoiceDocument, ctx: RulesContext):
    """The line taxes add up exactly to 合计税额."""
    if not doc.lines:
        return _na("发票没有可读的明细行，无需核对明细税额合计。")
    if doc.tax is None:
        return _na("发票未载明合计税额（如免税或 ***），无法核对明细税额合计。")
    missing = [i for i, line in enumerate(doc.lines, 1) if line.tax is None]
    if missing:
        return _na(f"第 {_rows(missing)} 行税额缺失（如免税或 ***），无法核对明细税额合计。", rows=missing)
    total = sum((line.tax for line in doc.lines), Decimal(0))  # type: ignore[misc]
    details = {"lines_sum": total, "tax": doc.tax, "line_count": len(doc.lines)}
    if total == doc.tax:
        return Result.PASS, f"{len(doc.lines)} 行明细税额合计 {_money(total)}，与合计税额一致。", details
    return (Result.FAIL,
            (f"明细税额合计 {_money(total)} 与发票合计税额 {_money(doc.tax)} 不一致"
            f"（相差 {_money(total - doc.tax)}）。请核对发票原件或联系开票方。"),
            details)


@rule("line_tax_rate", "明细税额 = 金额 × 税率")
def line_tax_rate(doc: InvoiceDocument, ctx: RulesContext):
    """Each line's tax equals amount x rate within ``ctx.line_tax_tolerance``."""
    if not doc.lines:
        return _na("发票没有可读的明细行，无需核对明细税额。")
    tolerance = ctx.line_tax_tolerance
    checked, skipped, bad = [], [], []
    for i, line in enumerate(doc.lines, 1):
        if line.amount is None or line.tax is None or line.tax_rate is None:
            skipped.append(i)
            continue
        expected = line.amount * line.tax_rate
        difference = line.tax - expected
        checked.append(i)
        if abs(difference) > tolerance:
            bad.append({"row": i, "amount": line.amount, "tax_rate": line.tax_rate, "tax": line.tax,
                        "expected": expected.quantize(Decimal("0.01")), "difference": difference})
    details: dict[str, Any] = {"checked_rows": len(checked), "skipped_rows": skipped, "tolerance": tolerance}
    if not checked:
        return _na("明细行的税率或税额未载明（如免税、不征税、差额征税显示 ***），无法按税率核对税额。", **details)
    if bad:
        details["mismatches"] = bad
        first = bad[0]
        rate = (first["tax_rate"] * 100).normalize()
        more = f"等 {len(bad)} 行" if len(bad) > 1 else ""
        return (Result.FAIL,
                (f"第 {first['row']} 行{more}税额与金额 × 税率不符：金额 {_money(first['amount'])} × {rate}% "
                f"应为 {_money(first['expected'])}，发票为 {_money(first['tax'])}（允许误差 {tolerance}）。"
                "请核对发票原件或联系开票方。"),
                details)
    note = f"（另有 {len(skipped)} 行未载明税率或税额，未核对）" if skipped else ""
    return Result.PASS, f"{len(checked)} 行明细税额均等于金额 × 税率{note}。", details


@rule("total_balance", "价税合计 = 金额 + 税额")
def total_balance(doc: InvoiceDocument, ctx: RulesContext):
    """价税合计 equals 合计金额 + 合计税额."""
    if doc.total is None:
        return _no_total(doc, "无法核对价税合计")
    if doc.amount_excl_tax is None or doc.tax is None:
        return _na("发票未载明合计金额或合计税额（如免税或 ***），无法核对价税合计。",
                   amount_excl_tax=doc.amount_excl_tax, tax=doc.tax, total=doc.total)
    expected = doc.amount_excl_tax + doc.tax
    details = {"amount_excl_tax": doc.amount_excl_tax, "tax": doc.tax, "total": doc.total, "expected": expected}
    if expected == doc.total:
        return Result.PASS, f"合计金额 {_money(doc.amount_excl_tax)} + 合计税额 {_money(doc.tax)} = 价税合计 {_money(doc.total)}。", details
    return (Result.FAIL,
            (f"合计金额 {_money(doc.amount_excl_tax)} + 合计税额 {_money(doc.tax)} = {_money(expected)}，"
            f"与价税合计 {_money(doc.total)} 不一致。请核对发票原件或联系开票方。"),
            details)


@rule("amount_in_words", "大写金额与价税合计一致")
def amount_in_words(doc: InvoiceDocument, ctx: RulesContext):
    """The upper-case amount (价税合计大写), parsed back to a Decimal, equals 价税合计."""
    if not doc.total_in_words:
        return _na("未读取到价税合计（大写），无法核对大写金额。")
    if doc.total is None:
        return _no_total(doc, "无法核对大写金额", words=doc.total_in_words)
    try:
        parsed = parse_rmb_words(doc.total_in_words)
    except AmountWordsError:
        return (Result.WARNING,
                f"价税合计（大写）“{doc.total_in_words}”无法识别为人民币金额，请对照发票原件人工核对。",
                {"words": doc.total_in_words, "total": doc.total})
    details = {"words": doc.total_in_words, "parsed": parsed, "total": doc.total, "expected_words": rmb_words(doc.total)}
    if parsed == doc.total:
        return Result.PASS, f"大写金额“{doc.total_in_words}”与价税合计 {_money(doc.total)} 一致。", details
    return (Result.FAIL,
            (f"大写金额“{doc.total_in_words}”（即 {_money(parsed)}）与价税合计 {_money(doc.total)} 不一致，"
            f"应为“{rmb_words(doc.total)}”。发票可能被篡改，请核对发票原件或联系开票方。"),
            details)


# -- the buyer (抬头 / 税号) -----------------------------------------------------------


def normalise_name(name: str | None) -> str:
    """Company names compare after NFKC (full-width -> half-width), without any
    whitespace, with every bracket style turned into ``()`` and upper-case Latin."""
    if not name:
        return ""
    value = unicodedata.normalize("NFKC", name).translate(_BRACKETS)
    return "".join(value.split()).upper()


def normalise_tax_id(tax_id: str | None) -> str:
    """Tax IDs (统一社会信用代码): NFKC, no spaces or dashes, upper case."""
    if not tax_id:
        return ""
    value = unicodedata.normalize("NFKC", tax_id)
    return re.sub(r"[\s\-]", "", value).upper()


def _buyer_applicable(doc: InvoiceDocument, ctx: RulesContext) -> tuple | None:
    if ctx.organisation is None:
        return _na("未配置本单位抬头和税号，未核对购买方。")
    if doc.family not in INVOICE_FAMILIES:
        return _na(f"{KIND_LABELS.get(doc.kind, doc.kind)}没有购买方抬头，无需核对。")
    return None


@rule("buyer_tax_id", "购买方税号为本单位")
def buyer_tax_id(doc: InvoiceDocument, ctx: RulesContext):
    """The buyer's tax ID is the organisation's (after normalisation)."""
    skip = _buyer_applicable(doc, ctx)
    if skip:
        return skip
    assert ctx.organisation is not None
    expected = normalise_tax_id(ctx.organisation.tax_id)
    actual = normalise_tax_id(doc.buyer.tax_id)
    details = {"buyer_tax_id": doc.buyer.tax_id, "expected": ctx.organisation.tax_id}
    if not actual:
        return (Result.WARNING,
                (f"发票上未读取到购买方税号（本单位税号 {ctx.organisation.tax_id}）。企业报销的发票须载明购买方税号，"
                "请对照发票原件核对；确无税号的，请联系开票方重开。"),
                details)
    if actual == expected:
        return Result.PASS, f"购买方税号 {doc.buyer.tax_id} 为本单位税号。", details
    return (Result.FAIL,
            (f"购买方税号 {doc.buyer.tax_id} 不是本单位税号 {ctx.organisation.tax_id}。"
            "发票抬头不属于本单位，不能报销；请联系开票方按本单位税号重开发票。"),
            details)


@rule("buyer_name", "购买方名称为本单位")
def buyer_name(doc: InvoiceDocument, ctx: RulesContext):
    """The buyer's name is the organisation's (or an alias), ignoring full-width,
    spaces and bracket style."""
    skip = _buyer_applicable(doc, ctx)
    if skip:
        return skip
    org = ctx.organisation
    assert org is not None
    details = {"buyer_name": doc.buyer.name, "expected": org.name}
    actual = normalise_name(doc.buyer.name)
    if not actual:
        return (Result.WARNING,
                f"发票上未读取到购买方名称（本单位为 {org.name}），请对照发票原件核对抬头。", details)
    accepted = {normalise_name(n) for n in (org.name, *org.aliases) if n}
    if actual in accepted:
        return Result.PASS, f"购买方名称“{doc.buyer.name}”为本单位。", details
    return (Result.FAIL,
            (f"购买方名称“{doc.buyer.name}”与本单位名称“{org.name}”不一致。"
            "发票抬头错误的不能报销，请联系开票方按本单位全称重开发票。"),
            details)


# -- dates, kinds, limits, red invoices -----------------------------------------------------


@rule("issue_date_not_future", "开票日期不晚于今天")
def issue_date_not_future(doc: InvoiceDocument, ctx: RulesContext):
    """The issue date is not after ``ctx.today``."""
    if doc.issue_date is None:
        return _na("未读取到开票日期，无法核对。")
    details = {"issue_date": doc.issue_date, "today": ctx.today}
    if doc.issue_date <= ctx.today:
        return Result.PASS, f"开票日期 {doc.issue_date.isoformat()} 不晚于今天。", details
    return (Result.FAIL,
            (f"开票日期 {doc.issue_date.isoformat()} 晚于今天（{ctx.today.isoformat()}），日期异常。"
            "请核对发票原件；如系识别错误请人工更正，否则请联系开票方。"),
            details)


def _category(ctx: RulesContext) -> tuple:
    if ctx.category is None:
        return None, _na("报销单未指定费用类别，未核对。")
    if ctx.policy is None:
        return None, _na("未配置费用类别规则，未核对。", category=ctx.category)
    rule_ = ctx.policy.get(ctx.category)
    if rule_ is None:
        known = "、".join(sorted(ctx.policy.categories)) or "（无）"
        return None, (Result.FAIL,
                      (f"费用类别“{ctx.category}”未在报销规则中配置（已配置：{known}）。"
                      "请选择正确的费用类别，或请管理员补充配置。"),
                      {"category": ctx.category, "known": sorted(ctx.policy.categories)})
    return rule_, None


@rule("category_kind", "发票种类符合费用类别")
def category_kind(doc: InvoiceDocument, ctx: RulesContext):
    """The invoice kind is one the claim's expense category accepts."""
    category, verdict = _category(ctx)
    if verdict:
        return verdict
    details = {"category": category.name, "kind": doc.kind,
               "allowed": sorted(category.kinds) if category.kinds is not None else None}
    label = KIND_LABELS.get(doc.kind, doc.kind)
    if category.kinds is None:
        return Result.PASS, f"费用类别 {category.display} 接受任何种类的票据。", details
    if doc.kind in category.kinds:
        return Result.PASS, f"{label}可用于 {category.display} 报销。", details
    allowed = "、".join(KIND_LABELS.get(k, k) for k in sorted(category.kinds))
    return (Result.FAIL,
            (f"{label}不能用于 {category.display} 报销；该类别只接受：{allowed}。"
            "请更换费用类别或提供符合要求的发票。"),
            details)


@rule("category_limit", "金额不超过费用类别限额")
def category_limit(doc: InvoiceDocument, ctx: RulesContext):
    """The invoice's 价税合计 does not exceed the category's ``max_total``."""
    category, verdict = _category(ctx)
    if verdict:
        return verdict
    if category.max_total is None:
        return _na(f"费用类别 {category.display} 未设单张发票限额。", category=category.name)
    if doc.total is None:
        return _no_total(doc, "无法核对限额", category=category.name)
    details = {"category": category.name, "total": doc.total, "max_total": category.max_total}
    if abs(doc.total) <= category.max_total:
        return (Result.PASS,
                f"价税合计 {_money(doc.total)} 未超过 {category.display} 单张限额 {_money(category.max_total)}。",
                details)
    return (Result.FAIL,
            (f"价税合计 {_money(doc.total)} 超过 {category.display} 单张发票限额 {_money(category.max_total)}"
            f"（超出 {_money(abs(doc.total) - category.max_total)}）。请按规定走超标审批，或调整报销金额。"),
            details)


@rule("red_invoice", "非红字发票")
def red_invoice(doc: InvoiceDocument, ctx: RulesContext):
    """A red-letter invoice (红字发票, negative amounts) reverses another one: it is
    never claimable; it signals that the original must be reversed."""
    if not doc.is_red:
        return Result.PASS, "蓝字发票。", {"is_red": False}
    original = doc.original_number
    details = {"is_red": True, "original_number": original}
    about = f"冲销原发票 {original}" if original else "冲销一张原发票（原发票号码未读取到）"
    return (Result.FAIL,
            (f"{_invoice_label(doc)} 是红字发票，{about}，不能报销。"
            "如原发票已报销，请通知财务冲销相应报销单和凭证。"),
            details)


def _rows(rows: list[int]) -> str:
    shown = "、".join(str(r) for r in rows[:5])
    return shown + (f" 等 {len(rows)} " if len(rows) > 5 else "")
