"""The tax platform port: invoice check (查验) and posting status (入账标识).

Pure: plain data in, plain data out; no database, no Pyramid, no HTTP. The
service builds a :class:`CheckQuery` from an invoice, asks an
:class:`ITaxPlatform` implementation (``invoice_archive_adapters.taxplatform.http.HttpTaxPlatform``,
or the fake in ``invoice_archive_adapters.testing.fakes.taxplatform``) and caches the
:class:`CheckResult` with its time and source.

Check outcomes (:class:`CheckStatus`):

``normal``                the platform knows the invoice and it is valid;
``voided``                作废: never claimable;
``red_reversed``          红冲: fully or partly reversed by a red invoice;
``not_found``             查无此票: the query data do not match any invoice;
``not_checkable_online``  older than the platform's window: decided locally,
                          before calling, and never a failure (the policy,
                          with the 5-checks-a-day budget, is in
                          ``invoice_archive/rules/tax_checks.py``);
``unavailable``           the platform did not answer (timeout, 5xx, busy):
                          ``retryable``; check again later.

Errors a person must fix (wrong credentials, a query the platform refuses,
a reply that is not the platform's) raise :class:`TaxPlatformError`.

Posting status (入账标识, docs/tax-platform.md, *unconfirmed*): the semantic values are
enums here; the wire codes (01/02/03, purposes 02..06) live in
:class:`PostingCodes`, configurable from settings.
"""
from __future__ import annotations

import datetime as dt
import enum
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from zope.interface import Attribute, Interface

if TYPE_CHECKING:  # pragma: no cover
    from invoice_archive.formats.model import InvoiceDocument

#: China Standard Time (no daylight saving): the platform's days start at midnight here
CST = dt.timezone(dt.timedelta(hours=8), "CST")
CENT = Decimal("0.01")
IDEMPOTENCY_KEY_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:\-]{7,127}$")
_PERIOD_RE = re.compile(r"^(\d{4})(0[1-9]|1[0-2])$")


class CheckStatus(enum.StrEnum):
    NORMAL = "normal"
    VOIDED = "voided"
    RED_REVERSED = "red_reversed"
    NOT_FOUND = "not_found"
    NOT_CHECKABLE_ONLINE = "not_checkable_online"
    UNAVAILABLE = "unavailable"


CHECK_STATUS_LABELS = {
    CheckStatus.NORMAL: "正常",
    CheckStatus.VOIDED: "已作废",
    CheckStatus.RED_REVERSED: "已红冲",
    CheckStatus.NOT_FOUND: "查无此票",
    CheckStatus.NOT_CHECKABLE_ONLINE: "超过查验期限，无法在线查验",
    CheckStatus.UNAVAILABLE: "查验平台暂不可用",
}


class TaxPlatformError(Exception):
    """A failure a retry alone will not fix (or, with ``retryable``, may).

    ``code`` is stable snake_case; ``message`` is Chinese and says what to do.
    """

    PERMANENT = frozenset({"auth_failed", "configuration_error", "invalid_query", "protocol_error",
                           "rejected", "not_checkable_online"})

    def __init__(self, code: str, message: str, *, retryable: bool | None = None, raw: Any = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.retryable = (code not in self.PERMANENT) if retryable is None else retryable
        self.raw = raw

    def __str__(self) -> str:
        return f"[{self.code}] {self.message}"

    def __repr__(self) -> str:
        return f"TaxPlatformError(code={self.code!r}, retryable={self.retryable!r}, message={self.message!r})"

    def to_dict(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message, "retryable": self.retryable}


def _frozen(value: Mapping[str, Any] | None) -> Mapping[str, Any]:
    return MappingProxyType(dict(value or {}))


def _json(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, Mapping):
        return {str(k): _json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json(v) for v in value]
    return value


def _ident(value: str | None) -> str | None:
    if value is None:
        return None
    value = "".join(unicodedata.normalize("NFKC", str(value)).split()).upper()
    return value or None


def _loose(value: str | None) -> str:
    text = unicodedata.normalize("NFKC", value or "").translate(str.maketrans("[]【】", "()()"))
    return "".join(text.split()).upper()


def _aware(value: dt.datetime, what: str) -> dt.datetime:
    if not isinstance(value, dt.datetime) or value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{what} must be a timezone-aware datetime")
    return value


def _money(value: Any, what: str) -> Decimal | None:
    if value is None:
        return None
    if isinstance(value, (bool, float)) or not isinstance(value, (Decimal, int, str)):
        raise TypeError(f"{what} must be a Decimal (never a float), got {type(value).__name__}")
    try:
        result = Decimal(value)
    except ArithmeticError:
        raise ValueError(f"{what} is not an amount: {value!r}") from None
    if not result.is_finite():
        raise ValueError(f"{what} must be finite")
    return result.quantize(CENT)


# -- check (查验) ---------------------------------------------------------------------------


@dataclass(frozen=True)
class CheckQuery:
    """What the platform asks for: 发票代码 (old invoices), 发票号码, 开票日期 and one of
    不含税金额 (专票), 价税合计 (数电票) or the last 6 digits of the 校验码 (普票).

    ``check_code`` keeps only its last 6 characters, whatever is passed in.
    """

    number: str
    issue_date: dt.date
    code: str | None = None
    amount_excl_tax: Decimal | None = None
    total: Decimal | None = None
    check_code: str | None = None

    def __post_init__(self) -> None:
        number = _ident(self.number)
        if not number:
            raise ValueError("CheckQuery.number is required")
        object.__setattr__(self, "number", number)
        object.__setattr__(self, "code", _ident(self.code))
        if isinstance(self.issue_date, dt.datetime) or not isinstance(self.issue_date, dt.date):
            raise TypeError("CheckQuery.issue_date must be a datetime.date")
        object.__setattr__(self, "amount_excl_tax", _money(self.amount_excl_tax, "amount_excl_tax"))
        object.__setattr__(self, "total", _money(self.total, "total"))
        check = _ident(self.check_code)
        object.__setattr__(self, "check_code", check[-6:] if check else None)
        if self.amount_excl_tax is None and self.total is None and self.check_code is None:
            raise ValueError("CheckQuery needs amount_excl_tax, total or check_code")

    @property
    def business_key(self) -> str:
        return f"{self.code}-{self.number}" if self.code else self.number

    @classmethod
    def from_document(cls, doc: InvoiceDocument) -> CheckQuery:
        """The query the platform expects for ``doc``'s kind.

        * 增值税电子专用发票: 不含税金额;
        * 增值税电子普通发票: 校验码后 6 位 (else 不含税金额);
        * 数电票 and 铁路电子客票: 价税合计.
        """
        if not doc.number or doc.issue_date is None:
            raise ValueError("the invoice has no number or no issue date: it cannot be checked")
        if doc.family == "numbered_invoice":
            return cls(number=doc.number, issue_date=doc.issue_date, total=doc.total,
                       amount_excl_tax=None if doc.total is not None else doc.amount_excl_tax)
        if doc.kind == "vat_e_normal" and doc.check_code:
            return cls(number=doc.number, code=doc.code, issue_date=doc.issue_date, check_code=doc.check_code)
        return cls(number=doc.number, code=doc.code, issue_date=doc.issue_date,
                   amount_excl_tax=doc.amount_excl_tax, check_code=doc.check_code)

    def to_dict(self) -> dict[str, Any]:
        return {"code": self.code, "number": self.number, "issue_date": self.issue_date.isoformat(),
                "amount_excl_tax": _json(self.amount_excl_tax), "total": _json(self.total),
                "check_code": self.check_code, "business_key": self.business_key}


@dataclass(frozen=True)
class CheckResult:
    """The platform's answer, with the time and the source to cache it by."""

    status: CheckStatus
    business_key: str
    checked_at: dt.datetime
    source: str
    message: str = ""
    buyer_name: str | None = None
    buyer_tax_id: str | None = None
    seller_name: str | None = None
    seller_tax_id: str | None = None
    amount_excl_tax: Decimal | None = None
    tax: Decimal | None = None
    total: Decimal | None = None
    issue_date: dt.date | None = None
    error_code: str | None = None
    raw: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "status", CheckStatus(self.status))
        _aware(self.checked_at, "CheckResult.checked_at")
        for name in ("amount_excl_tax", "tax", "total"):
            object.__setattr__(self, name, _money(getattr(self, name), name))
        object.__setattr__(self, "buyer_tax_id", _ident(self.buyer_tax_id))
        object.__setattr__(self, "seller_tax_id", _ident(self.seller_tax_id))
        object.__setattr__(self, "raw", _frozen(self.raw))
        if not self.message:
            object.__setattr__(self, "message", CHECK_STATUS_LABELS[self.status])

    __hash__ = None  # type: ignore[assignment]

    @property
    def ok(self) -> bool:
        """The platform confirmed the invoice as valid."""
        return self.status is CheckStatus.NORMAL

    @property
    def retryable(self) -> bool:
        """Only an unavailable platform is worth asking again."""
        return self.status is CheckStatus.UNAVAILABLE

    @property
    def final(self) -> bool:
        """An answer the platform gave about the invoice (not "try later")."""
        return self.status in (CheckStatus.NORMAL, CheckStatus.VOIDED, CheckStatus.RED_REVERSED,
                               CheckStatus.NOT_FOUND)

    def discrepancies(self, doc: InvoiceDocument) -> tuple[str, ...]:
        """Where the platform's record differs from the invoice as read (Chinese, one
        sentence each): a genuine number carrying altered parties or amounts. Fields
        either side leaves empty are not compared."""
        pairs = (
            ("购买方名称", self.buyer_name, doc.buyer.name, _loose),
            ("购买方税号", self.buyer_tax_id, doc.buyer.tax_id, _ident),
            ("销售方名称", self.seller_name, doc.seller.name, _loose),
            ("销售方税号", self.seller_tax_id, doc.seller.tax_id, _ident),
            ("合计金额", self.amount_excl_tax, doc.amount_excl_tax, None),
            ("合计税额", self.tax, doc.tax, None),
            ("价税合计", self.total, doc.total, None),
            ("开票日期", self.issue_date, doc.issue_date, None),
        )
        out = []
        for label, platform, invoice, norm in pairs:
            if platform is None or invoice is None:
                continue
            same = norm(platform) == norm(invoice) if norm else platform == invoice
            if not same:
                out.append(f"{label}不一致：税务平台为 {platform}，发票为 {invoice}。")
        return tuple(out)

    def to_dict(self) -> dict[str, Any]:
        return {
            "status": self.status.value,
            "status_label": CHECK_STATUS_LABELS[self.status],
            "ok": self.ok,
            "retryable": self.retryable,
            "business_key": self.business_key,
            "checked_at": self.checked_at.isoformat(),
            "source": self.source,
            "message": self.message,
            "buyer_name": self.buyer_name,
            "buyer_tax_id": self.buyer_tax_id,
            "seller_name": self.seller_name,
            "seller_tax_id": self.seller_tax_id,
            "amount_excl_tax": _json(self.amount_excl_tax),
            "tax": _json(self.tax),
            "total": _json(self.total),
            "issue_date": _json(self.issue_date),
            "error_code": self.error_code,
            "raw": _json(self.raw),
        }


# -- posting status (入账标识) --------------------------------------------------------------


class PostingState(enum.StrEnum):
    NOT_POSTED = "not_posted"  # 未入账
    POSTED = "posted"  # 已入账
    REVOKED = "revoked"  # 已入账撤销


class PostingPurpose(enum.StrEnum):
    POSTED_EIT_DEDUCTIBLE = "posted_eit_deductible"  # 入账（企业所得税税前扣除）
    POSTED_EIT_NOT_DEDUCTIBLE = "posted_eit_not_deductible"  # 入账（企业所得税不扣除）
    POSTED_IIT_DEDUCTIBLE = "posted_iit_deductible"  # 入账（个人所得税经营所得税前扣除）
    POSTED_IIT_NOT_DEDUCTIBLE = "posted_iit_not_deductible"  # 入账（个人所得税经营所得不扣除）
    REVOKE = "revoke"  # 入账撤销


POSTING_PURPOSES = frozenset({PostingPurpose.POSTED_EIT_DEDUCTIBLE, PostingPurpose.POSTED_EIT_NOT_DEDUCTIBLE,
                              PostingPurpose.POSTED_IIT_DEDUCTIBLE, PostingPurpose.POSTED_IIT_NOT_DEDUCTIBLE})


@dataclass(frozen=True)
class PostingCodes:
    """The wire codes of the posting-status API (docs/tax-platform.md, *unconfirmed*).

    Settings (all optional; defaults as in docs/tax-platform.md)::

        taxplatform.posting.status.not_posted = 01
        taxplatform.posting.status.posted = 02
        taxplatform.posting.status.revoked = 03
        taxplatform.posting.purpose.posted_eit_deductible = 02
        taxplatform.posting.purpose.posted_eit_not_deductible = 03
        taxplatform.posting.purpose.posted_iit_deductible = 04
        taxplatform.posting.purpose.posted_iit_not_deductible = 05
        taxplatform.posting.purpose.revoke = 06
    """

    status: Mapping[PostingState, str] = field(default_factory=lambda: {
        PostingState.NOT_POSTED: "01", PostingState.POSTED: "02", PostingState.REVOKED: "03"})
    purpose: Mapping[PostingPurpose, str] = field(default_factory=lambda: {
        PostingPurpose.POSTED_EIT_DEDUCTIBLE: "02", PostingPurpose.POSTED_EIT_NOT_DEDUCTIBLE: "03",
        PostingPurpose.POSTED_IIT_DEDUCTIBLE: "04", PostingPurpose.POSTED_IIT_NOT_DEDUCTIBLE: "05",
        PostingPurpose.REVOKE: "06"})

    def __post_init__(self) -> None:
        status = {PostingState(k): str(v) for k, v in self.status.items()}
        purpose = {PostingPurpose(k): str(v) for k, v in self.purpose.items()}
        for name, table, enum_ in (("status", status, PostingState), ("purpose", purpose, PostingPurpose)):
            missing = [m.value for m in enum_ if m not in table]
            if missing:
                raise ValueError(f"PostingCodes.{name} lacks codes for {missing}")
            if len(set(table.values())) != len(table):
                raise ValueError(f"PostingCodes.{name} codes must be distinct: {table}")
        object.__setattr__(self, "status", MappingProxyType(status))
        object.__setattr__(self, "purpose", MappingProxyType(purpose))

    __hash__ = None  # type: ignore[assignment]

    def state_of(self, code: str) -> PostingState:
        for state, value in self.status.items():
            if value == code:
                return state
        raise KeyError(code)

    def purpose_of(self, code: str) -> PostingPurpose:
        for purpose, value in self.purpose.items():
            if value == code:
                return purpose
        raise KeyError(code)


def posting_codes_from_settings(settings: Mapping[str, Any], prefix: str = "taxplatform.posting.") -> PostingCodes:
    """Read :class:`PostingCodes` overrides; a wrong key or value raises ValueError naming it."""
    defaults = PostingCodes()
    status = dict(defaults.status)
    purpose = dict(defaults.purpose)
    for key, value in settings.items():
        if not isinstance(key, str) or not key.startswith(prefix):
            continue
        group, _, name = key[len(prefix):].partition(".")
        code = str(value).strip()
        if not re.fullmatch(r"[0-9A-Za-z]{1,8}", code):
            raise ValueError(f"{key}: {value!r} is not a code (letters and digits, e.g. 02)")
        try:
            if group == "status":
                status[PostingState(name)] = code
            elif group == "purpose":
                purpose[PostingPurpose(name)] = code
            else:
                raise ValueError(group)
        except ValueError:
            states = ", ".join(s.value for s in PostingState)
            purposes = ", ".join(p.value for p in PostingPurpose)
            raise ValueError(f"{key}: unknown setting; use {prefix}status.<{states}> or "
                             f"{prefix}purpose.<{purposes}>") from None
    return PostingCodes(status=status, purpose=purpose)


def posting_key_prefix(business_key: str) -> str:
    """What every posting-status key of one invoice starts with (``RZ-<business key>-``)."""
    return f"RZ-{_ident(business_key)}-"


def posting_idempotency_key(business_key: str, purpose: PostingPurpose | str, period: str | None,
                            version: int = 1) -> str:
    """A deterministic key: the same submission always carries the same key, so a
    retry after a timeout is recognised by the platform (or the fake)."""
    purpose = PostingPurpose(purpose)
    key = f"{posting_key_prefix(business_key)}{purpose.value}-{period or 'none'}-v{int(version)}"
    if not IDEMPOTENCY_KEY_RE.match(key):
        raise ValueError(f"cannot derive an idempotency key from {business_key!r}")
    return key


@dataclass(frozen=True)
class PostingStatus:
    """One posting-status submission for one invoice.

    ``purpose`` says what happened (posted with a tax treatment, or revoke);
    ``state`` is the status it leaves the invoice in; ``period`` (YYYYMM) is
    required for the four posting purposes. ``idempotency_key`` makes the
    submission safe to repeat.
    """

    business_key: str
    state: PostingState
    purpose: PostingPurpose
    idempotency_key: str
    period: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "state", PostingState(self.state))
        object.__setattr__(self, "purpose", PostingPurpose(self.purpose))
        if not self.business_key:
            raise ValueError("PostingStatus.business_key is required")
        if not IDEMPOTENCY_KEY_RE.match(self.idempotency_key or ""):
            raise ValueError("PostingStatus.idempotency_key must be 8-128 letters, digits or '_.:-'")
        if self.purpose in POSTING_PURPOSES:
            if self.state is not PostingState.POSTED:
                raise ValueError(f"purpose {self.purpose.value} leaves the invoice posted, not {self.state.value}")
            if not self.period or not _PERIOD_RE.match(self.period):
                raise ValueError("PostingStatus.period (YYYYMM, month 01-12) is required for a posting purpose")
        else:  # revoke
            if self.state is not PostingState.REVOKED:
                raise ValueError(f"purpose revoke leaves the invoice revoked, not {self.state.value}")
            if self.period is not None and not _PERIOD_RE.match(self.period):
                raise ValueError("PostingStatus.period must be YYYYMM")

    @classmethod
    def posted(cls, business_key: str, period: str, *,
               purpose: PostingPurpose = PostingPurpose.POSTED_EIT_DEDUCTIBLE, version: int = 1) -> PostingStatus:
        return cls(business_key=business_key, state=PostingState.POSTED, purpose=purpose, period=period,
                   idempotency_key=posting_idempotency_key(business_key, purpose, period, version))

    @classmethod
    def revoked(cls, business_key: str, *, period: str | None = None, version: int = 1) -> PostingStatus:
        return cls(business_key=business_key, state=PostingState.REVOKED, purpose=PostingPurpose.REVOKE,
                   period=period,
                   idempotency_key=posting_idempotency_key(business_key, PostingPurpose.REVOKE, period, version))

    def wire(self, codes: PostingCodes | None = None) -> dict[str, Any]:
        """The submission with the platform's codes."""
        codes = codes or PostingCodes()
        return {"invoice_business_key": self.business_key, "status": codes.status[self.state],
                "purpose": codes.purpose[self.purpose], "period": self.period,
                "idempotency_key": self.idempotency_key}

    def to_dict(self) -> dict[str, Any]:
        return {"business_key": self.business_key, "state": self.state.value, "purpose": self.purpose.value,
                "period": self.period, "idempotency_key": self.idempotency_key}


@dataclass(frozen=True)
class PostingAck:
    """The platform took the submission. ``duplicate`` says an earlier submission
    with the same idempotency key was already received (nothing new was done)."""

    idempotency_key: str
    business_key: str
    accepted: bool
    duplicate: bool
    received_at: dt.datetime
    source: str
    receipt_id: str | None = None
    message: str = ""
    raw: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        _aware(self.received_at, "PostingAck.received_at")
        object.__setattr__(self, "raw", _frozen(self.raw))

    __hash__ = None  # type: ignore[assignment]

    def to_dict(self) -> dict[str, Any]:
        return {"idempotency_key": self.idempotency_key, "business_key": self.business_key,
                "accepted": self.accepted, "duplicate": self.duplicate,
                "received_at": self.received_at.isoformat(), "source": self.source,
                "receipt_id": self.receipt_id, "message": self.message, "raw": _json(self.raw)}


class ITaxPlatform(Interface):
    """The national tax platform (or a vendor in front of it)."""

    source = Attribute("Where answers come from (for the cached result), e.g. 'taxplatform:https://...'.")

    def check(query: CheckQuery) -> CheckResult:
        """查验. Returns ``not_checkable_online`` without calling when the invoice is
        older than the window; ``unavailable`` (retryable) when the platform does not
        answer. Raises TaxPlatformError for what a person must fix (credentials,
        a refused query, a reply that is not the platform's)."""

    def report_posting(status: PostingStatus) -> PostingAck:
        """Submit 入账标识. Safe to repeat with the same idempotency key. Raises
        TaxPlatformError; ``retryable`` errors (timeout, unreachable, busy) may be
        retried with the same PostingStatus."""
