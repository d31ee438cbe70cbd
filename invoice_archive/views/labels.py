"""What a person reads on the auditors' pages: the Chinese name of every code the
records keep (roles, statuses, accounting systems, verification verdicts and
checks) and times in Beijing time.

The records and the API keep the codes (``finance``, ``posted``, ``kingdee``,
UTC timestamps); the pages show these words. This module is the one place
they are kept: views/web.py registers the functions below as Jinja2 filters
(``|role``, ``|status``, ``|system``, ``|beijing`` ...) and uses them in its
messages. The role names are docs/roles.md's, the statuses the models' own
(``ClaimStatus``, ``InvoiceStatus``, ``OutboxStatus``; the tax platform's
``CheckStatus`` keeps its labels beside it in ports/taxplatform.py), the
verification codes docs/signatures.md's. A code without a label is shown as
it is, never hidden.
"""
from __future__ import annotations

import datetime as dt
from typing import Any, Mapping
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from invoice_archive.models import ClaimStatus, InvoiceStatus, OutboxStatus, Role
from invoice_archive.ports.taxplatform import CHECK_STATUS_LABELS

#: docs/roles.md: each role's Chinese name
ROLE_LABELS: Mapping[str, str] = {
    Role.FINANCE: "财务",
    Role.APPROVER: "审批人",
    Role.ACCOUNTING_SYSTEM: "记账系统",
    Role.AUDITOR: "审计人员",
    Role.ARCHIVIST: "档案管理员",
    Role.ADMIN: "管理员",
}

#: a claim's status; a voucher's status in the auditors' search is its claim's
CLAIM_STATUS_LABELS: Mapping[str, str] = {
    ClaimStatus.DRAFT: "草稿",
    ClaimStatus.SUBMITTED: "已提交",
    ClaimStatus.REVIEWED: "已审核",
    ClaimStatus.APPROVED: "已审批",
    ClaimStatus.POSTING: "入账中",
    ClaimStatus.POSTED: "已入账",
    ClaimStatus.ARCHIVED: "已归档",
    ClaimStatus.REFUSED: "已退回",
    ClaimStatus.REVERSED: "已冲销",
}

INVOICE_STATUS_LABELS: Mapping[str, str] = {
    InvoiceStatus.RECEIVED: "已接收",
    InvoiceStatus.CLAIMED: "已报销",
    InvoiceStatus.POSTED: "已入账",
    InvoiceStatus.ARCHIVED: "已归档",
    InvoiceStatus.REVERSED: "已冲销",
}

#: a message to the accounting system or the tax platform (the outbox)
OUTBOX_STATUS_LABELS: Mapping[str, str] = {
    OutboxStatus.PENDING: "待发送",
    OutboxStatus.DONE: "已送达",
    OutboxStatus.FAILED: "被拒绝（待处理）",
}

#: the statuses an auditor may search vouchers by (services/search.py VOUCHER_STATUSES)
VOUCHER_STATUS_LABELS: Mapping[str, str] = {
    s: CLAIM_STATUS_LABELS[s] for s in (ClaimStatus.POSTED, ClaimStatus.ARCHIVED, ClaimStatus.REVERSED)}

#: the orders the search page offers (services/search.py VOUCHER_SORTS; "-": descending)
VOUCHER_SORT_LABELS: Mapping[str, str] = {
    "-date": "日期（新→旧）",
    "date": "日期（旧→新）",
    "number": "凭证号",
    "-amount": "金额（大→小）",
    "archival_code": "档号",
}

#: every status word a page may show: the same code means the same in each vocabulary
STATUS_LABELS: Mapping[str, str] = {**OUTBOX_STATUS_LABELS, **dict(CHECK_STATUS_LABELS),
                                    **INVOICE_STATUS_LABELS, **CLAIM_STATUS_LABELS}

#: Voucher.source_system: the accounting adapter's ``name`` (docs/accounting-systems.md),
#: or ``accounting.source_name`` for vouchers reported over the API
SYSTEM_LABELS: Mapping[str, str] = {
    "kingdee": "金蝶",
    "u8": "用友U8",
    "yonsuite": "用友BIP",
    "generic_json": "通用接口",
    "generic": "通用接口",
}

#: docs/signatures.md: the verdict of an invoice's signature verification
VERDICT_LABELS: Mapping[str, str] = {
    "valid": "签名有效",
    "valid_with_warning": "签名有效（有提示）",
    "unsigned": "无电子签名",
    "present_not_verifiable": "签名无法验证",
    "tampered": "已被篡改",
    "invalid": "签名无效",
}

#: docs/signatures.md: one check's result
CHECK_RESULT_LABELS: Mapping[str, str] = {
    "pass": "通过",
    "fail": "未通过",
    "warning": "提示",
    "not_checked": "未验证",
}

#: docs/signatures.md: what each check looks at
CHECK_LABELS: Mapping[str, str] = {
    "tax_bureau_signature": "税务机关签名",
    "xml_structure": "XML 结构",
    "ofd_structure": "OFD 结构",
    "signature_list": "签名列表",
    "signature_file": "签名文件",
    "signed_value": "签名值",
    "references": "签名引用",
    "reference_digest": "引用文件摘要",
    "reference_missing": "引用文件缺失",
    "digest_method": "摘要算法",
    "digest_algorithm": "摘要算法",
    "data_hash": "签名数据摘要",
    "message_digest": "消息摘要",
    "signer_signature": "签名人签名",
    "seal_signature": "印章签名",
    "seal_signer_binding": "印章与签名人绑定",
    "seal_structure": "印章结构",
    "property_info": "签名属性",
    "content_type": "内容类型",
    "byte_range": "PDF 签名范围",
    "pdf_coverage": "PDF 签名覆盖",
    "content_digest": "内容摘要",
    "chain_valid": "证书链",
    "chain_root_untrusted": "证书链（根证书不受信任）",
    "chain_invalid": "证书链",
    "chain_not_checked": "证书链（未配置信任库）",
    "original_fixity": "原件完整性",
}

#: Asia/Shanghai (UTC+8, no daylight saving since 1991); the fixed offset serves
#: where the system has no time-zone database
try:
    BEIJING: dt.tzinfo = ZoneInfo("Asia/Shanghai")
except ZoneInfoNotFoundError:   # pragma: no cover - slim images without tzdata
    BEIJING = dt.timezone(dt.timedelta(hours=8), "CST")
BEIJING_LABEL = "北京时间"


def _label(table: Mapping[str, str], code: Any) -> str:
    if code is None:
        return ""
    return table.get(str(code), str(code))


def role(code: Any) -> str:
    return _label(ROLE_LABELS, code)


def status(code: Any) -> str:
    return _label(STATUS_LABELS, code)


def claim_status(code: Any) -> str:
    return _label(CLAIM_STATUS_LABELS, code)


def invoice_status(code: Any) -> str:
    return _label(INVOICE_STATUS_LABELS, code)


def system(code: Any) -> str:
    return _label(SYSTEM_LABELS, code)


def verdict(code: Any) -> str:
    return _label(VERDICT_LABELS, code)


def check(code: Any) -> str:
    return _label(CHECK_LABELS, code)


def check_result(code: Any) -> str:
    return _label(CHECK_RESULT_LABELS, code)


def beijing(value: dt.datetime | None, *, seconds: bool = True) -> str:
    """A stored (UTC) time as Beijing time, labelled: ``2024-07-20 09:30:00 北京时间``."""
    if value is None:
        return ""
    if value.tzinfo is None:   # the database gives aware UTC (db.UTCDateTime); be safe with a naive one
        value = value.replace(tzinfo=dt.timezone.utc)
    fmt = "%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M"
    return f"{value.astimezone(BEIJING).strftime(fmt)} {BEIJING_LABEL}"


#: name -> function, for the templates (views/web.py registers them as Jinja2 filters)
FILTERS = {
    "role": role, "status": status, "claim_status": claim_status, "invoice_status": invoice_status,
    "system": system, "verdict": verdict, "check": check, "check_result": check_result, "beijing": beijing,
}

__all__ = [
    "BEIJING", "BEIJING_LABEL", "CHECK_LABELS", "CHECK_RESULT_LABELS", "CLAIM_STATUS_LABELS", "FILTERS",
    "INVOICE_STATUS_LABELS", "OUTBOX_STATUS_LABELS", "ROLE_LABELS", "STATUS_LABELS", "SYSTEM_LABELS",
    "VERDICT_LABELS", "VOUCHER_SORT_LABELS", "VOUCHER_STATUS_LABELS", "beijing", "check", "check_result",
    "claim_status", "invoice_status", "role", "status", "system", "verdict",
]
