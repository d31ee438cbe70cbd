"""The accounting-system port: plain data in, plain data out.

Everything here is independent of the database, of Pyramid and of any vendor.
The service builds a :class:`DraftVoucher`, hands it to an
:class:`IAccountingSystem` implementation (``invoice_archive_adapters.kingdee.K3CloudAdapter``,
``invoice_archive_adapters.u8.U8EaiAdapter``, ``invoice_archive_adapters.generic_json.GenericJsonAdapter``) and
gets one of four outcomes back:

``posted``
    the voucher exists in the accounting system (``voucher_number``,
    ``system_id``); ``already_existed`` tells that an earlier attempt made it.
``rejected``
    the system refused it; ``message`` is the system's own message, ``code``
    says why in a stable form (``validation_failed``, ``period_closed`` ...).
    Retrying the same draft will not help.
``retryable``
    nothing was written (connection refused, server busy); send it again later.
``unknown``
    the request reached the system but no answer came back (read timeout,
    dropped connection, 5xx after the body was sent). Look the external
    reference up with :meth:`IAccountingSystem.find_by_external_ref` before any
    retry.

A failure that no retry can heal and that is about the adapter's configuration
rather than the draft (wrong credentials, wrong URL path) raises
:class:`AccountingError` with ``retryable = False``; read-only operations
(``find_by_external_ref``, ``pull_changes``) raise :class:`AccountingError` for
every failure, with ``retryable`` telling whether to try again.
"""
from __future__ import annotations

import datetime as dt
import enum
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from types import MappingProxyType
from typing import Any

from zope.interface import Attribute, Interface

CENT = Decimal("0.01")
ZERO = Decimal("0.00")

#: ``IA-<claim number>-v<version>``: letters, digits and ``-_.`` only, so that
#: every vendor can store it in a text field and filter on it without escaping.
EXTERNAL_REF_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}$")


class Outcome(enum.StrEnum):
    POSTED = "posted"
    REJECTED = "rejected"
    RETRYABLE = "retryable"
    UNKNOWN = "unknown"


class RemoteStatus(enum.StrEnum):
    SAVED = "saved"  # entered, not yet audited (Kingdee A/B/D, U8 unsigned)
    AUDITED = "audited"  # audited/checked, not yet posted to the ledger (Kingdee C)
    POSTED = "posted"  # posted to the ledger (记账; U8 ibook=1, Kingdee FPOSTED)
    VOID = "void"  # voided (作废; U8 iflag=1)


#: how far a voucher has come in the accounting system (void is off the line)
STATUS_RANK = {RemoteStatus.SAVED: 1, RemoteStatus.AUDITED: 2, RemoteStatus.POSTED: 3}


def has_reached(status: RemoteStatus | None, required: RemoteStatus) -> bool:
    """Whether a voucher in ``status`` counts as at least ``required`` (saved < audited < posted)."""
    return status is not None and STATUS_RANK.get(RemoteStatus(status), 0) >= STATUS_RANK[RemoteStatus(required)]


class AccountingError(Exception):
    """A failure talking to an accounting system.

    ``code`` is stable snake_case for machines; ``message`` is Chinese and says
    what a person should do; ``retryable`` tells the outbox worker whether to
    try again. ``system_message`` is the remote system's own text, if any.
    """

    #: codes that never heal by retrying, whatever the caller says
    PERMANENT = frozenset(
        {"auth_failed", "configuration_error", "period_closed", "validation_failed",
         "invalid_voucher_report", "not_found", "protocol_error"}
    )

    def __init__(self, code: str, message: str, *, retryable: bool | None = None,
                 system_message: str | None = None, raw: Any = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.retryable = (code not in self.PERMANENT) if retryable is None else retryable
        self.system_message = system_message
        self.raw = raw

    def __str__(self) -> str:
        return f"[{self.code}] {self.message}"

    def __repr__(self) -> str:
        return f"AccountingError(code={self.code!r}, retryable={self.retryable!r}, message={self.message!r})"


def _money(value: Any, what: str) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, (Decimal, int)):
        raise TypeError(f"{what} must be a Decimal (never a float), got {type(value).__name__}")
    value = Decimal(value)
    if not value.is_finite():
        raise ValueError(f"{what} must be finite")
    if value != value.quantize(CENT):
        raise ValueError(f"{what} has more than 2 decimals: {value}")
    return value.quantize(CENT)


def _frozen_mapping(value: Mapping[str, Any] | None) -> Mapping[str, Any]:
    return MappingProxyType(dict(value or {}))


@dataclass(frozen=True)
class DraftEntry:
    """One line (分录) of a voucher. Exactly one of ``debit``/``credit`` is non-zero;
    a red-letter (红字) line carries a negative amount on its side."""

    summary: str
    account_code: str
    debit: Decimal
    credit: Decimal
    auxiliary: Mapping[str, str] = field(default_factory=dict)
    account_name: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "debit", _money(self.debit, "debit"))
        object.__setattr__(self, "credit", _money(self.credit, "credit"))
        object.__setattr__(self, "auxiliary", _frozen_mapping(self.auxiliary))

    @property
    def side(self) -> str:
        return "debit" if self.debit else "credit"

    @property
    def amount(self) -> Decimal:
        return self.debit or self.credit


@dataclass(frozen=True)
class DraftVoucher:
    """A voucher the service wants the accounting system to hold.

    ``external_ref`` is deterministic (``IA-<claim number>-v<version>``): the
    same claim version always yields the same reference, so a retry can be
    recognised. The constructor checks types only; business validity (balance,
    one side per line, period) is judged by the accounting system, whose
    message is passed through. :meth:`problems` runs the same checks locally.
    """

    external_ref: str
    book: str
    fiscal_year: int
    period: int
    date: dt.date
    preparer: str
    entries: tuple[DraftEntry, ...]
    attachment_count: int = 0
    voucher_word: str = "记"

    def __post_init__(self) -> None:
        if not isinstance(self.date, dt.date) or isinstance(self.date, dt.datetime):
            raise TypeError("date must be a datetime.date")
        object.__setattr__(self, "entries", tuple(self.entries))
        for entry in self.entries:
            if not isinstance(entry, DraftEntry):
                raise TypeError("entries must be DraftEntry instances")

    @property
    def debit_total(self) -> Decimal:
        return sum((e.debit for e in self.entries), ZERO)

    @property
    def credit_total(self) -> Decimal:
        return sum((e.credit for e in self.entries), ZERO)

    @property
    def is_balanced(self) -> bool:
        return self.debit_total == self.credit_total

    def problems(self) -> list[str]:
        """What an accounting system would refuse, in Chinese; empty when fine."""
        found: list[str] = []
        if not EXTERNAL_REF_RE.match(self.external_ref or ""):
            found.append(f"外部参考号 {self.external_ref!r} 只能含字母、数字和 -_.，最长 64 位")
        if not 1 <= self.period <= 12:
            found.append(f"会计期间 {self.period} 不在 1-12 之间")
        if len(self.entries) < 2:
            found.append("凭证至少需要两条分录")
        for no, e in enumerate(self.entries, 1):
            if (e.debit != 0) == (e.credit != 0):
                found.append(f"第 {no} 条分录必须且只能在借方或贷方之一填写金额")
            if not e.account_code.strip():
                found.append(f"第 {no} 条分录缺少科目编码")
            if not e.summary.strip():
                found.append(f"第 {no} 条分录缺少摘要")
        if not self.is_balanced:
            found.append(f"借贷不平衡：借方合计 {self.debit_total}，贷方合计 {self.credit_total}")
        return found


@dataclass(frozen=True)
class PostResult:
    """The outcome of ``post`` or ``reverse`` (see the module docstring)."""

    status: Outcome
    voucher_number: str | None = None
    system_id: str | None = None
    message: str | None = None
    code: str | None = None
    already_existed: bool = False
    raw: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)
    #: the voucher's state in the system as the adapter read it back after writing it
    #: (None: not read; the service then reads it with ``find_by_external_ref``)
    remote_status: RemoteStatus | None = None
    #: ``reverse`` only: the voucher was not yet posted over there and was withdrawn the
    #: system's own way (Kingdee: 反审核 + 删除) instead of reversed by a red voucher
    withdrawn: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "status", Outcome(self.status))
        if self.remote_status is not None:
            object.__setattr__(self, "remote_status", RemoteStatus(self.remote_status))

    @property
    def posted(self) -> bool:
        return self.status is Outcome.POSTED

    def error(self) -> AccountingError | None:
        """The outcome as an error for a caller that prefers raising; None when posted."""
        if self.posted:
            return None
        default_code = {Outcome.REJECTED: "validation_failed", Outcome.RETRYABLE: "unreachable",
                        Outcome.UNKNOWN: "timeout_outcome_unknown"}[self.status]
        return AccountingError(self.code or default_code, self.message or "记账系统未接受该凭证",
                               retryable=self.status is not Outcome.REJECTED,
                               system_message=self.message, raw=self.raw)

    @classmethod
    def existing(cls, remote: RemoteVoucher) -> PostResult:
        """The voucher an earlier attempt already made (found by its external reference)."""
        return cls(Outcome.POSTED, remote.voucher_number, remote.system_id,
                   message="凭证已存在（同一外部参考号）", already_existed=True, raw=getattr(remote, "raw", {}),
                   remote_status=remote.status)

    @classmethod
    def unknown(cls, message: str, *, raw: Mapping[str, Any] | None = None) -> PostResult:
        return cls(Outcome.UNKNOWN, message=message, code="timeout_outcome_unknown", raw=raw or {})

    @classmethod
    def retryable(cls, message: str, *, code: str = "unreachable",
                  raw: Mapping[str, Any] | None = None) -> PostResult:
        return cls(Outcome.RETRYABLE, message=message, code=code, raw=raw or {})


@dataclass(frozen=True)
class CheckResult:
    """The outcome of ``check``: would the system accept this draft? Nothing is written."""

    ok: bool
    messages: tuple[str, ...] = ()
    code: str | None = None
    raw: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)


@dataclass(frozen=True)
class RemoteVoucher:
    """A voucher as the accounting system holds it."""

    system_id: str
    voucher_number: str
    external_ref: str | None
    fiscal_year: int
    period: int
    date: dt.date
    status: RemoteStatus
    entries: tuple[DraftEntry, ...]
    updated_at: dt.datetime | None = None
    voucher_word: str = "记"
    book: str | None = None
    preparer: str | None = None
    reviewer: str | None = None
    poster: str | None = None
    attachment_count: int | None = None
    raw: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "status", RemoteStatus(self.status))
        object.__setattr__(self, "entries", tuple(self.entries))

    @property
    def debit_total(self) -> Decimal:
        return sum((e.debit for e in self.entries), ZERO)

    @property
    def credit_total(self) -> Decimal:
        return sum((e.credit for e in self.entries), ZERO)


@dataclass(frozen=True)
class ReportEntry:
    line_no: int
    summary: str
    account_code: str
    account_name: str | None
    debit: Decimal
    credit: Decimal


@dataclass(frozen=True)
class VoucherReport:
    """An accounting system's report (inbound, over the service's API) that a
    claim has been posted on a voucher. Built by
    :func:`invoice_archive_adapters.generic_json.parse_voucher_report`."""

    claim_number: str
    voucher_number: str
    voucher_word: str
    fiscal_year: int
    period: int
    date: dt.date
    external_ref: str | None
    prepared_by: str
    reviewed_by: str | None
    posted_by: str | None
    entries: tuple[ReportEntry, ...]
    attachment_count: int | None = None

    @property
    def debit_total(self) -> Decimal:
        return sum((e.debit for e in self.entries), ZERO)

    @property
    def credit_total(self) -> Decimal:
        return sum((e.credit for e in self.entries), ZERO)


# -- ledgers and reports (会计账簿, 财务会计报告) -------------------------------------------------
#: the books an accounting system keeps per period (会计档案管理办法 附表1 rows 3-5, docs/records.md)
LEDGER_KINDS = ("general_ledger", "subsidiary_ledger", "cash_journal", "bank_journal")
#: financial reports by the span they cover: a month, a quarter, a half-year, the year
REPORT_KINDS = ("monthly_report", "quarterly_report", "half_year_report", "annual_report")
#: the statements a report holds (资产负债表, 利润表, 现金流量表)
STATEMENT_KINDS = ("balance_sheet", "income_statement", "cash_flow_statement")


def reports_due(period: int) -> tuple[str, ...]:
    """The reports whose span ends with accounting month ``period``: every month's,
    a quarter's in March, June, September and December, the half-year's in June,
    the year's in December."""
    due = ["monthly_report"]
    if period % 3 == 0:
        due.append("quarterly_report")
    if period == 6:
        due.append("half_year_report")
    if period == 12:
        due.append("annual_report")
    return tuple(due)


@dataclass(frozen=True)
class LedgerLine:
    """One line of a ledger: an account's opening balance (``kind="opening"``), a posting
    from a voucher (``"entry"``, with its date and voucher number), the period's totals
    (``"total"``) or its closing balance (``"closing"``). ``balance`` is the running
    balance after the line, signed debit-positive; ``direction`` is 借, 贷 or 平."""

    kind: str
    account_code: str
    account_name: str | None
    summary: str
    debit: Decimal
    credit: Decimal
    balance: Decimal
    date: dt.date | None = None
    voucher_number: str | None = None

    def __post_init__(self) -> None:
        if self.kind not in ("opening", "entry", "total", "closing"):
            raise ValueError(f"ledger line kind {self.kind!r}: opening, entry, total or closing")
        for name in ("debit", "credit", "balance"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (Decimal, int)) or not Decimal(value).is_finite():
                raise TypeError(f"{name} must be a finite Decimal (never a float)")
            object.__setattr__(self, name, Decimal(value).quantize(CENT))

    @property
    def direction(self) -> str:
        return "借" if self.balance > 0 else "贷" if self.balance < 0 else "平"


@dataclass(frozen=True)
class LedgerBook:
    """A ledger of one accounting period as the accounting system produced it:
    总账 (``general_ledger``), 明细账 (``subsidiary_ledger``), 现金日记账
    (``cash_journal``), 银行存款日记账 (``bank_journal``)."""

    kind: str
    fiscal_year: int
    period: int
    lines: tuple[LedgerLine, ...]
    book: str | None = None
    currency: str = "CNY"
    prepared_by: str | None = None      # 编制 (who closed the period / printed the book)
    reviewed_by: str | None = None      # 审核
    system_id: str | None = None        # the system's own identifier of the export
    generated_at: dt.datetime | None = None

    def __post_init__(self) -> None:
        if self.kind not in LEDGER_KINDS:
            raise ValueError(f"ledger kind {self.kind!r}: one of {', '.join(LEDGER_KINDS)}")
        if not 1 <= int(self.period) <= 12:
            raise ValueError(f"period {self.period} is not an accounting month 1-12")
        object.__setattr__(self, "lines", tuple(self.lines))

    @property
    def debit_total(self) -> Decimal:
        return sum((ln.debit for ln in self.lines if ln.kind == "entry"), ZERO)

    @property
    def credit_total(self) -> Decimal:
        return sum((ln.credit for ln in self.lines if ln.kind == "entry"), ZERO)


@dataclass(frozen=True)
class ReportItem:
    """One line (项目) of a statement: its line number (行次), name, and the amounts
    at the end of the span (期末/本期) and at its start or the same span a year before
    (年初/上年同期)."""

    line_no: int
    name: str
    current: Decimal | None
    prior: Decimal | None = None
    code: str | None = None

    def __post_init__(self) -> None:
        for name in ("current", "prior"):
            value = getattr(self, name)
            if value is None:
                continue
            if isinstance(value, bool) or not isinstance(value, (Decimal, int)) or not Decimal(value).is_finite():
                raise TypeError(f"{name} must be a finite Decimal (never a float)")
            object.__setattr__(self, name, Decimal(value).quantize(CENT))


@dataclass(frozen=True)
class Statement:
    kind: str
    title: str
    items: tuple[ReportItem, ...]

    def __post_init__(self) -> None:
        if self.kind not in STATEMENT_KINDS:
            raise ValueError(f"statement kind {self.kind!r}: one of {', '.join(STATEMENT_KINDS)}")
        object.__setattr__(self, "items", tuple(self.items))


@dataclass(frozen=True)
class FinancialReport:
    """A 财务会计报告 whose span ends with accounting month ``period``: the month's,
    a quarter's, the half-year's or the year's (``kind``, REPORT_KINDS), with its
    statements and the people 会计法 asks to sign it: 单位负责人 (``head``),
    会计机构负责人 (``chief_accountant``) and 制表人 (``prepared_by``)."""

    kind: str
    fiscal_year: int
    period: int
    statements: tuple[Statement, ...]
    currency: str = "CNY"
    prepared_by: str | None = None
    chief_accountant: str | None = None
    head: str | None = None
    system_id: str | None = None
    generated_at: dt.datetime | None = None

    def __post_init__(self) -> None:
        if self.kind not in REPORT_KINDS:
            raise ValueError(f"report kind {self.kind!r}: one of {', '.join(REPORT_KINDS)}")
        if self.kind not in reports_due(int(self.period)):
            raise ValueError(f"a {self.kind} does not end with accounting month {self.period}")
        object.__setattr__(self, "statements", tuple(self.statements))

    @property
    def span(self) -> str:
        """How the span is written in the report's number: 2024-07, 2024-Q3, 2024-H1, 2024."""
        y, p = self.fiscal_year, self.period
        return {"monthly_report": f"{y}-{p:02d}", "quarterly_report": f"{y}-Q{p // 3}",
                "half_year_report": f"{y}-H1", "annual_report": f"{y}"}[self.kind]


class IAccountingRecords(Interface):
    """The accounting system as the source of the books and reports the archive keeps
    (会计账簿, 财务会计报告; docs/records.md). Implemented by the adapters that can
    export them (generic JSON, Kingdee K/3 Cloud, Yonyou U8), beside IAccountingSystem.
    Read-only: nothing is written in the accounting system. Failures raise
    AccountingError (``retryable`` says whether to try again)."""

    def export_ledgers(fiscal_year: int, period: int) -> list[LedgerBook]:  # noqa: N805
        """The period's ledgers (general ledger, subsidiary ledger, cash and bank
        journals), from the posted vouchers of the period and the balances before it;
        the same books every time for a closed period (deterministic)."""

    def export_reports(fiscal_year: int, period: int) -> list[FinancialReport]:  # noqa: N805
        """The reports whose span ends with the period (``reports_due``): the month's,
        and the quarter's, the half-year's and the year's where they end there."""


class IAccountingSystem(Interface):
    """The company's accounting system (Kingdee K/3 Cloud, Yonyou U8, a generic JSON API ...).

    Implementations are constructed from a settings dict and chosen by dotted
    name (``accounting.backend``). They never touch the database.
    """

    name = Attribute("Short name of the system kind, e.g. 'kingdee', for logs and Voucher.source_system.")

    def check(draft: DraftVoucher) -> CheckResult:  # noqa: N805
        """Ask the system whether it would accept ``draft`` without writing
        anything. Where the system has no dry-run, validate locally with the
        same rules the system applies. Transport failures raise AccountingError."""

    def post(draft: DraftVoucher) -> PostResult:  # noqa: N805
        """Write ``draft`` once. Never creates a second voucher for the same
        ``external_ref``: returns the existing one (``already_existed=True``).
        Returns posted / rejected / retryable / unknown; raises AccountingError
        only for permanent configuration failures such as ``auth_failed``."""

    def find_by_external_ref(ref: str) -> RemoteVoucher | None:  # noqa: N805
        """The voucher carrying ``ref``, or None. Raises AccountingError."""

    def pull_changes(since: str | None) -> tuple[list[RemoteVoucher], str]:  # noqa: N805
        """Vouchers created or changed after the opaque watermark ``since``
        (None = from the beginning), oldest first, and the new watermark to
        store. Calling again with the returned watermark never repeats a
        change and never skips one. Raises AccountingError."""

    def reverse(system_id: str, *, date: dt.date, reason: str, external_ref: str) -> PostResult:  # noqa: N805
        """Create a reversal (红字冲销) voucher for ``system_id`` dated ``date``,
        carrying ``external_ref`` (idempotent like ``post``)."""


class IVoucherReportParser(Interface):
    """Reads an accounting system's report of a posted voucher (the inbound wire
    format, e.g. invoice_archive_adapters.generic_json:parse_voucher_report)."""

    def __call__(payload: dict) -> object:  # noqa: N805
        """A VoucherReport (claim_number, voucher_word, voucher_number, fiscal_year,
        period, date, external_ref, prepared_by, reviewed_by, posted_by, entries);
        raises an error carrying .code and .message when the payload is malformed."""


__all__ = [
    "AccountingError", "CheckResult", "DraftEntry", "DraftVoucher", "EXTERNAL_REF_RE", "FinancialReport",
    "IAccountingRecords", "IAccountingSystem", "IVoucherReportParser", "LEDGER_KINDS", "LedgerBook", "LedgerLine",
    "REPORT_KINDS", "ReportItem", "STATEMENT_KINDS", "Statement", "reports_due", "Outcome", "PostResult", "RemoteStatus", "RemoteVoucher",
    "ReportEntry", "STATUS_RANK", "VoucherReport", "has_reached", "post_unless_exists",
]


def post_unless_exists(system: Any, draft: DraftVoucher, write: Any) -> PostResult:
    """For systems without an idempotency key: look the external reference up
    first and write (``write(draft)``) only when no voucher carries it yet."""
    try:
        existing = system.find_by_external_ref(draft.external_ref)
    except AccountingError as exc:
        if not exc.retryable:
            raise
        return PostResult.retryable(f"提交前查询外部参考号失败，凭证未提交：{exc.message}", code=exc.code)
    if existing is not None:
        return PostResult.existing(existing)
    return write(draft)
