"""Drafts from several sources, merged best-first with cross-checks."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from . import normalize as norm
from .model import InvoiceDocument, LineItem, Party

SCALAR_FIELDS = (
    "kind",
    "code",
    "number",
    "check_code",
    "machine_number",
    "issue_date",
    "seller_name",
    "seller_tax_id",
    "seller_address_phone",
    "seller_bank_account",
    "buyer_name",
    "buyer_tax_id",
    "buyer_address_phone",
    "buyer_bank_account",
    "amount_excl_tax",
    "tax",
    "total",
    "total_in_words",
    "remarks",
    "clerk",
    "payee",
    "checker",
    "is_red",
    "original_number",
)

LABELS = {
    "kind": "发票种类",
    "code": "发票代码",
    "number": "发票号码",
    "check_code": "校验码",
    "machine_number": "机器编号",
    "issue_date": "开票日期",
    "seller_name": "销售方名称",
    "seller_tax_id": "销售方纳税人识别号",
    "seller_address_phone": "销售方地址电话",
    "seller_bank_account": "销售方开户行及账号",
    "buyer_name": "购买方名称",
    "buyer_tax_id": "购买方纳税人识别号",
    "buyer_address_phone": "购买方地址电话",
    "buyer_bank_account": "购买方开户行及账号",
    "amount_excl_tax": "合计金额",
    "tax": "合计税额",
    "total": "价税合计",
    "total_in_words": "价税合计（大写）",
    "remarks": "备注",
    "clerk": "开票人",
    "payee": "收款人",
    "checker": "复核人",
    "is_red": "红字标志",
    "original_number": "原发票号码",
    "lines": "明细行数",
}

# Fields whose disagreement between sources is noise, not a finding
# (layout text vs structured record): compared but never warned about.
_QUIET = {"remarks", "total_in_words", "seller_address_phone", "seller_bank_account",
          "buyer_address_phone", "buyer_bank_account"}


@dataclass
class Draft:
    """What one source says. ``fields`` uses the flat names of :data:`SCALAR_FIELDS`."""

    source: str
    fields: dict[str, Any] = field(default_factory=dict)
    lines: list[LineItem] | None = None
    extra: dict[str, str] = field(default_factory=dict)

    def set(self, name: str, value: Any) -> None:
        if value is not None and value != "":
            self.fields[name] = value

    def empty(self) -> bool:
        return not self.fields and not self.lines


def merge(
    drafts: list[Draft],
    *,
    source_format: str,
    pages: int | None = None,
    attachments: tuple[str, ...] = (),
    warnings: list[str] | None = None,
    default_kind: str | None = None,
) -> InvoiceDocument:
    values: dict[str, Any] = {}
    provenance: dict[str, str] = {}
    warns = list(warnings or ())
    for name in SCALAR_FIELDS:
        chosen_src = None
        for draft in drafts:
            value = draft.fields.get(name)
            if value is None:
                continue
            if chosen_src is None:
                values[name] = value
                provenance[name] = chosen_src = draft.source
            elif not norm.same(name, values[name], value) and name not in _QUIET:
                warns.append(
                    f"{LABELS[name]}不一致：{chosen_src} 为 {_show(values[name])}，"
                    f"{draft.source} 为 {_show(value)}；采用 {chosen_src}。"
                )
    lines: list[LineItem] = []
    for draft in drafts:
        if draft.lines:
            if not lines:
                lines = draft.lines
                provenance["lines"] = draft.source
            elif len(draft.lines) != len(lines):
                warns.append(
                    f"明细行数不一致：{provenance['lines']} 为 {len(lines)} 行，"
                    f"{draft.source} 为 {len(draft.lines)} 行；采用 {provenance['lines']}。"
                )
    extra: dict[str, str] = {}
    for draft in reversed(drafts):
        extra.update(draft.extra)
    kind = values.pop("kind", None) or default_kind
    if kind is None:  # pragma: no cover - callers decide the kind before merging
        raise ValueError("no kind")
    seller = Party(
        name=values.pop("seller_name", None),
        tax_id=values.pop("seller_tax_id", None),
        address_phone=values.pop("seller_address_phone", None),
        bank_account=values.pop("seller_bank_account", None),
    )
    buyer = Party(
        name=values.pop("buyer_name", None),
        tax_id=values.pop("buyer_tax_id", None),
        address_phone=values.pop("buyer_address_phone", None),
        bank_account=values.pop("buyer_bank_account", None),
    )
    is_red = bool(values.pop("is_red", False))
    total = values.get("total")
    if not is_red and total is not None and total < 0:
        is_red = True
    _check_arithmetic(values, lines, warns)
    return InvoiceDocument(
        source_format=source_format,
        kind=kind,
        seller=seller,
        buyer=buyer,
        lines=tuple(lines),
        is_red=is_red,
        pages=pages,
        attachments=attachments,
        provenance=provenance,
        warnings=tuple(dict.fromkeys(warns)),
        extra=extra,
        **values,
    )


def _show(value: Any) -> str:
    return str(value)


def _check_arithmetic(values: dict[str, Any], lines: list[LineItem], warns: list[str]) -> None:
    amount, tax, total = values.get("amount_excl_tax"), values.get("tax"), values.get("total")
    if amount is not None and tax is not None and total is not None and amount + tax != total:
        warns.append(f"金额不平：合计金额 {amount} + 合计税额 {tax} ≠ 价税合计 {total}。")
    if lines and amount is not None and all(line.amount is not None for line in lines):
        line_sum = sum(line.amount for line in lines)  # type: ignore[misc]
        if line_sum != amount:
            warns.append(f"明细金额合计 {line_sum} 与合计金额 {amount} 不一致。")
