"""The canonical, immutable result of every reader: :class:`InvoiceDocument`."""
from __future__ import annotations

import datetime as _dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from types import MappingProxyType
from typing import Any, NamedTuple

SOURCE_FORMATS = ("ofd", "xml", "pdf")

# Kinds of e-voucher, with the family each belongs to. The family decides the
# business key. New kinds (air itineraries "air_itinerary", 财政电子票据
# "fiscal_bill", 非税缴款书 ...) are added here with their family.
KINDS: dict[str, str] = {
    "vat_e_normal": "coded_invoice",  # 增值税电子普通发票 (发票代码 + 发票号码)
    "vat_e_special": "coded_invoice",  # 增值税电子专用发票
    "digital_normal": "numbered_invoice",  # 数电票（普通发票）, 20-digit number
    "digital_special": "numbered_invoice",  # 数电票（增值税专用发票）
    "railway_ticket": "numbered_invoice",  # 电子发票（铁路电子客票）
    "railway_ticket_refund": "numbered_invoice",  # 铁路电子客票 退票
    "bank_receipt": "bank_receipt",  # 银行电子回单
    "bank_statement": "bank_statement",  # 银行电子对账单
}

KIND_LABELS: dict[str, str] = {
    "vat_e_normal": "增值税电子普通发票",
    "vat_e_special": "增值税电子专用发票",
    "digital_normal": "电子发票（普通发票）",
    "digital_special": "电子发票（增值税专用发票）",
    "railway_ticket": "电子发票（铁路电子客票）",
    "railway_ticket_refund": "电子发票（铁路电子客票）退票",
    "bank_receipt": "银行电子回单",
    "bank_statement": "银行电子对账单",
}


@dataclass(frozen=True)
class Party:
    """Seller or buyer. For bank receipts: seller = payee (收款人), buyer = payer (付款人)."""

    name: str | None = None
    tax_id: str | None = None
    address_phone: str | None = None
    bank_account: str | None = None

    def to_dict(self) -> dict[str, str | None]:
        return {
            "name": self.name,
            "tax_id": self.tax_id,
            "address_phone": self.address_phone,
            "bank_account": self.bank_account,
        }


class LineItem(NamedTuple):
    """One invoice line (immutable). ``tax_rate`` is a fraction (6% -> Decimal("0.06")); None when exempt/unknown."""

    name: str | None = None
    specification: str | None = None
    unit: str | None = None
    quantity: Decimal | None = None
    unit_price: Decimal | None = None
    amount: Decimal | None = None
    tax_rate: Decimal | None = None
    tax: Decimal | None = None
    tax_rate_text: str | None = None  # as printed: "6%", "免税", "不征税", "***"

    def to_dict(self) -> dict[str, Any]:
        return {name: _json(value) for name, value in zip(self._fields, self)}


def _json(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, _dt.date):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {k: _json(v) for k, v in value.items()}
    if isinstance(value, (tuple, list)):
        return [_json(v) for v in value]
    return value


# Provenance names of sources that are a page's printed layout.
LAYOUT_SOURCES = frozenset({"ofd:page", "pdf:text"})
# The fields a claim, a posting and the duplicate check rely on.
KEY_FIELDS = frozenset({"code", "number", "issue_date", "amount_excl_tax", "tax", "total",
                        "seller_tax_id", "buyer_tax_id", "lines"})


def _frozen_map(value: Mapping[str, Any] | None) -> Mapping[str, Any]:
    return MappingProxyType(dict(value or {}))


@dataclass(frozen=True)
class InvoiceDocument:
    """One e-invoice / e-voucher, whatever format it arrived in.

    ``provenance`` maps a field name (as in :meth:`to_dict`) to the source it
    was taken from, e.g. ``"xml"``, ``"ofd:original_invoice.xml"``,
    ``"ofd:xbrl"``, ``"ofd:tags"``, ``"ofd:custom_datas"``, ``"ofd:page_text"``,
    ``"pdf:text"``. Where several sources give a field, the best one wins and a
    disagreement is recorded in ``warnings`` (Chinese, one sentence each).
    ``extra`` holds kind-specific facts (train number, stations, bank accounts...).
    """

    source_format: str
    kind: str
    code: str | None = None
    number: str | None = None
    check_code: str | None = None
    machine_number: str | None = None
    issue_date: _dt.date | None = None
    seller: Party = field(default_factory=Party)
    buyer: Party = field(default_factory=Party)
    amount_excl_tax: Decimal | None = None
    tax: Decimal | None = None
    total: Decimal | None = None
    total_in_words: str | None = None
    lines: tuple[LineItem, ...] = ()
    remarks: str | None = None
    clerk: str | None = None
    payee: str | None = None
    checker: str | None = None
    is_red: bool = False
    original_number: str | None = None
    pages: int | None = None
    attachments: tuple[str, ...] = ()
    provenance: Mapping[str, str] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()
    extra: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown kind {self.kind!r}")
        if self.source_format not in SOURCE_FORMATS:
            raise ValueError(f"unknown source_format {self.source_format!r}")
        object.__setattr__(self, "provenance", _frozen_map(self.provenance))
        object.__setattr__(self, "extra", _frozen_map(self.extra))
        object.__setattr__(self, "lines", tuple(self.lines))
        object.__setattr__(self, "attachments", tuple(self.attachments))
        object.__setattr__(self, "warnings", tuple(self.warnings))

    __hash__ = None  # type: ignore[assignment]  # mappings inside; compare, don't hash

    @property
    def family(self) -> str:
        return KINDS[self.kind]

    @property
    def business_key(self) -> str:
        """The identity of the voucher, the same whatever format it arrived in.

        * 增值税电子发票 (with a 发票代码): ``"<code>-<number>"``;
        * 数电票 and 铁路电子客票: the 20-digit number;
        * 银行电子回单: ``"BKER-<校验码>"`` (the MOF receipt identifying code,
          unique per issuing bank), else ``"BKER-<bank code>-<receipt number>"``;
        * 银行电子对账单: ``"BKRS-<bank code>-<account>-<YYYYMM>"``.
        """
        family = self.family
        if family == "coded_invoice" and self.code:
            return f"{self.code}-{self.number}"
        if family == "bank_receipt":
            if self.check_code:
                return f"BKER-{self.check_code}"
            return f"BKER-{self.code or ''}-{self.number or ''}"
        if family == "bank_statement":
            period = self.extra.get("period", "")
            account = self.extra.get("account", "")
            return f"BKRS-{self.code or ''}-{account}-{period}"
        return self.number or ""

    @property
    def layout_fields(self) -> tuple[str, ...]:
        """Fields read only from the printed layout of a page (OFD page or
        PDF text), not from a structured record: lower confidence."""
        return tuple(name for name, source in self.provenance.items() if source in LAYOUT_SOURCES)

    @property
    def confidence(self) -> str:
        """``high`` when every key field comes from a structured record
        (XML, XBRL, tag tree, metadata); ``low`` when any was read from the
        printed layout alone (docs/formats.md, "Page-only invoices")."""
        return "low" if set(self.layout_fields) & KEY_FIELDS else "high"

    def to_dict(self) -> dict[str, Any]:
        """JSON-able view. Field names follow the samples' ``expected.json``.

        ``lines`` is the list of line dicts and ``line_count`` their number;
        ``red`` is :attr:`is_red`; party fields are flattened as
        ``seller_name``, ``seller_tax_id``, ``seller_address_phone``,
        ``seller_bank_account`` (and ``buyer_*``); Decimals are strings, dates ISO.
        """
        out: dict[str, Any] = {
            "source_format": self.source_format,
            "kind": self.kind,
            "business_key": self.business_key,
            "code": self.code,
            "number": self.number,
            "check_code": self.check_code,
            "machine_number": self.machine_number,
            "issue_date": _json(self.issue_date),
        }
        for role, party in (("seller", self.seller), ("buyer", self.buyer)):
            for key, value in party.to_dict().items():
                out[f"{role}_{key}"] = value
        out.update(
            {
                "amount_excl_tax": _json(self.amount_excl_tax),
                "tax": _json(self.tax),
                "total": _json(self.total),
                "total_in_words": self.total_in_words,
                "lines": [line.to_dict() for line in self.lines],
                "line_count": len(self.lines),
                "remarks": self.remarks,
                "clerk": self.clerk,
                "payee": self.payee,
                "checker": self.checker,
                "red": self.is_red,
                "original_number": self.original_number,
                "pages": self.pages,
                "attachments": list(self.attachments),
                "provenance": dict(self.provenance),
                "confidence": self.confidence,
                "layout_fields": list(self.layout_fields),
                "warnings": list(self.warnings),
                "extra": dict(self.extra),
            }
        )
        return out
