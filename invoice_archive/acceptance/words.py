"""The words the features use for what the API keeps as codes.

A person reads statuses, systems, roles, verdicts and check names in Chinese;
the API answers with codes (``posted``, ``kingdee``, ``valid`` ...). The
vocabularies are the auditors' pages' own (invoice_archive/views/labels.py) and
the readers' invoice kinds (``KIND_LABELS``): a step compares the label of what
the API says with the words of the feature, so the feature and the pages never
disagree. The few words the pages have no use for are kept here.
"""
from __future__ import annotations

from typing import Mapping

from invoice_archive.formats.model import KIND_LABELS
from invoice_archive.views.labels import (
    CHECK_LABELS, CHECK_RESULT_LABELS, CLAIM_STATUS_LABELS, INVOICE_STATUS_LABELS, OUTBOX_STATUS_LABELS, ROLE_LABELS,
    SYSTEM_LABELS, VERDICT_LABELS,
)

#: accounting.posted_when: how far a voucher must come over there (docs/accounting-systems.md)
POSTED_WHEN_LABELS: Mapping[str, str] = {"saved": "保存", "audited": "审核", "posted": "过账"}

#: 入账标识 (docs/tax-platform.md, PostingState)
POSTING_STATE_LABELS: Mapping[str, str] = {"not_posted": "未入账", "posted": "已入账", "revoked": "已入账撤销"}

#: 查验 answers the features name (ports/taxplatform.py CheckStatus, as the fake platform is scripted)
TAX_ANSWERS: Mapping[str, str] = {"正常": "normal", "作废": "voided", "已作废": "voided", "红冲": "red_reversed",
                                  "查无此票": "not_found"}


def code_for(labels: Mapping[str, str], label: str, what: str) -> str:
    """The one code a vocabulary names with ``label`` (the feature's word)."""
    codes = [code for code, text in labels.items() if text == label]
    if len(codes) != 1:
        known = "、".join(dict.fromkeys(labels.values()))
        raise AssertionError(f"「{label}」不是{what}（可用：{known}）")
    return str(codes[0])


def codes_for(labels: Mapping[str, str], label: str, what: str) -> set[str]:
    """Every code a vocabulary names with ``label`` (check names repeat: 证书链 ...)."""
    codes = {str(code) for code, text in labels.items() if text == label}
    if not codes:
        raise AssertionError(f"「{label}」不是{what}")
    return codes


def label(labels: Mapping[str, str], code: object) -> str:
    return labels.get(str(code), str(code)) if code is not None else "（无）"


__all__ = ["CHECK_LABELS", "CHECK_RESULT_LABELS", "CLAIM_STATUS_LABELS", "INVOICE_STATUS_LABELS", "KIND_LABELS",
           "OUTBOX_STATUS_LABELS", "POSTED_WHEN_LABELS", "POSTING_STATE_LABELS", "ROLE_LABELS", "SYSTEM_LABELS",
           "TAX_ANSWERS", "VERDICT_LABELS", "code_for", "codes_for", "label"]
