"""Business rules run before money moves (pure: no database, no Pyramid).

    from invoice_archive.rules import Organisation, RulesContext, evaluate, policy_from_settings

    policy = policy_from_settings(settings)          # rules.category.<name>.{kinds,max_total,label}
    ctx = RulesContext(today=date.today(), organisation=Organisation(name, tax_id),
                       category="travel", policy=policy)
    report = evaluate(doc, ctx)                      # RulesReport
    report.passed; report.failures; report["buyer_tax_id"].message; report.to_dict()

Each check has a stable code (see :data:`RULE_CODES`), a result (pass / fail /
warning / not_applicable) and a Chinese message a finance clerk can act on.
"""
from .checks import RULES, Rule, normalise_name, normalise_tax_id
from .engine import evaluate
from .model import (
    RESULT_LABELS,
    Organisation,
    Result,
    RuleResult,
    RulesContext,
    RulesReport,
)
from .policy import CategoryPolicy, CategoryRule, PolicyError, policy_from_settings
from .words import AmountWordsError, parse_rmb_words, rmb_words

#: every rule code, in evaluation order
RULE_CODES: tuple[str, ...] = tuple(RULES)

__all__ = [
    "RESULT_LABELS",
    "RULES",
    "RULE_CODES",
    "AmountWordsError",
    "CategoryPolicy",
    "CategoryRule",
    "Organisation",
    "PolicyError",
    "Result",
    "Rule",
    "RuleResult",
    "RulesContext",
    "RulesReport",
    "evaluate",
    "normalise_name",
    "normalise_tax_id",
    "parse_rmb_words",
    "policy_from_settings",
    "rmb_words",
]
