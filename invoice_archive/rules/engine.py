"""Run the rules on one invoice."""
from __future__ import annotations

import logging
from collections.abc import Iterable

from invoice_archive.formats.model import InvoiceDocument

from .checks import RULES, Rule
from .model import Result, RuleResult, RulesContext, RulesReport

log = logging.getLogger(__name__)


def evaluate(doc: InvoiceDocument, ctx: RulesContext, *, only: Iterable[str] | None = None) -> RulesReport:
    """Every rule (or those in ``only``, by code, in registration order) on ``doc``.

    A rule never raises for missing data; should one raise anyway (a bug), its
    verdict is ``fail`` with code preserved, so that money never moves on a check
    that did not run, and the other rules still report.
    """
    if only is not None:
        wanted = set(only)
        unknown = sorted(wanted - set(RULES))
        if unknown:
            raise ValueError(f"unknown rule code(s) {unknown}; known: {sorted(RULES)}")
        rules: list[Rule] = [r for code, r in RULES.items() if code in wanted]
    else:
        rules = list(RULES.values())
    checks = [_run(r, doc, ctx) for r in rules]
    return RulesReport(checks=tuple(checks), business_key=doc.business_key or None)


def _run(rule: Rule, doc: InvoiceDocument, ctx: RulesContext) -> RuleResult:
    try:
        return rule(doc, ctx)
    except Exception as exc:
        log.exception("rule %s crashed on %s", rule.code, doc.business_key)
        return RuleResult(
            code=rule.code, title=rule.title, result=Result.FAIL,
            message=f"规则“{rule.title}”执行出错（{exc.__class__.__name__}），请人工复核本发票并联系系统管理员。",
            details={"error": exc.__class__.__name__},
        )
