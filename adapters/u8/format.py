"""The U8 EAI general-ledger voucher document (``roottag="voucher" billtype="gl"``),
shared by the adapter and the fake.

Head (``voucher_head``): company, voucher_type (凭证类别, e.g. 记), fiscal_year,
accounting_period, voucher_id (凭证号; empty with ``renewproofno="y"`` so U8
numbers it), attachment_number, date, enter (制单人), cashier, signature,
checker, posting_date, posting_person, voucher_making_system (外部系统),
memo1, memo2, reserve1, **reserve2 (the external reference)**, revokeflag.
In query replies the head also carries U8's GL_accvouch flags ``ibook``
(1 = 已记账) and ``iflag`` (1 = 作废), and the ``voucher`` element its
``timestamp`` (the row version, hex).

Body (``voucher_body/entry``): entry_id, account_code, abstract, currency,
exchange_rate1/2, primary_debit_amount, natural_debit_currency (本币借方),
primary_credit_amount, natural_credit_currency (本币贷方),
auxiliary_accounting/item[@name] (dept_id, personnel_id, cust_id,
supplier_id, item_class, item_id, ...).
"""
from __future__ import annotations

import datetime as dt
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal

from invoice_archive_adapters.u8.xml import sub, text

HEAD_FIELDS = ("company", "voucher_type", "fiscal_year", "accounting_period", "voucher_id", "attachment_number",
               "date", "auditdate", "enter", "cashier", "signature", "checker", "posting_date", "posting_person",
               "voucher_making_system", "memo1", "memo2", "reserve1", "reserve2", "revokeflag")


@dataclass
class U8Entry:
    abstract: str
    account_code: str
    debit: Decimal
    credit: Decimal
    auxiliary: dict[str, str] = field(default_factory=dict)


@dataclass
class U8Voucher:
    head: dict[str, str]
    entries: list[U8Entry]
    timestamp: str | None = None
    key: str | None = None

    @property
    def reserve2(self) -> str | None:
        return self.head.get("reserve2") or None


def amount(value: Decimal) -> str:
    return f"{value:.2f}"


def voucher_element(parent: ET.Element, voucher: U8Voucher) -> ET.Element:
    attrs = {"id": voucher.key or voucher.head.get("reserve2") or ""}
    if voucher.timestamp:
        attrs["timestamp"] = voucher.timestamp
    element = sub(parent, "voucher", **attrs)
    head = sub(element, "voucher_head")
    for name in HEAD_FIELDS + tuple(k for k in voucher.head if k not in HEAD_FIELDS):
        sub(head, name, voucher.head.get(name, ""))
    body = sub(element, "voucher_body")
    for no, e in enumerate(voucher.entries, 1):
        entry = sub(body, "entry")
        sub(entry, "entry_id", no)
        sub(entry, "account_code", e.account_code)
        sub(entry, "abstract", e.abstract)
        sub(entry, "currency", "")
        sub(entry, "exchange_rate1", "")
        sub(entry, "exchange_rate2", "0")
        sub(entry, "primary_debit_amount", "0")
        sub(entry, "natural_debit_currency", amount(e.debit))
        sub(entry, "primary_credit_amount", "0")
        sub(entry, "natural_credit_currency", amount(e.credit))
        aux = sub(entry, "auxiliary_accounting")
        for name, value in e.auxiliary.items():
            sub(aux, "item", value, name=name)
    return element


def parse_voucher(element: ET.Element) -> U8Voucher:
    head_el = element.find("voucher_head")
    head = {child.tag: (child.text or "").strip() for child in (head_el if head_el is not None else [])}
    entries = []
    for entry in element.iterfind("voucher_body/entry"):
        aux = {item.get("name", ""): (item.text or "").strip()
               for item in entry.iterfind("auxiliary_accounting/item") if (item.text or "").strip()}
        entries.append(U8Entry(text(entry, "abstract"), text(entry, "account_code"),
                               Decimal(text(entry, "natural_debit_currency", "0") or "0"),
                               Decimal(text(entry, "natural_credit_currency", "0") or "0"), aux))
    return U8Voucher(head, entries, element.get("timestamp"), element.get("id"))


def ufinterface(proc: str, sender: str, receiver: str = "u8", **attrs: str) -> ET.Element:
    base = {"roottag": "voucher", "billtype": "gl", "sender": sender, "receiver": receiver, "proc": proc,
            "codeexchanged": "N"}
    base.update(attrs)
    return ET.Element("ufinterface", base)


def parse_date(value: str) -> dt.date:
    return dt.date.fromisoformat(value.strip()[:10])


def head_for(mapping: Mapping[str, object]) -> dict[str, str]:
    return {k: "" if v is None else str(v) for k, v in mapping.items()}
