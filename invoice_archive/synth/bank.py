"""Synthetic bank e-vouchers as bare MOF XBRL instances (银行电子对账单 ``bkrs``, 银行电子回单
``bker``; docs/formats.md), for demos and tests of the records archive (docs/records.md).

Only the facts the readers take are written (formats/xbrl.py); the parties are fictitious.
"""
from __future__ import annotations

import datetime as dt
import xml.etree.ElementTree as ET
from decimal import Decimal

TAXONOMY = "http://xbrl.mof.gov.cn/taxonomy/2021-09-30"
XBRLI = "http://www.xbrl.org/2003/instance"


def _instance(prefix: str, facts: dict[str, str]) -> bytes:
    ns = f"{TAXONOMY}/{prefix}"
    ET.register_namespace("xbrli", XBRLI)
    ET.register_namespace(prefix, ns)
    root = ET.Element(f"{{{XBRLI}}}xbrl")
    for name, value in facts.items():
        el = ET.SubElement(root, f"{{{ns}}}{name}", {"contextRef": "ctx"})
        el.text = value
    ET.indent(root)
    return ET.tostring(root, encoding="utf-8", xml_declaration=True) + b"\n"


def bank_statement(*, bank_code: str = "104100000004", account: str = "6216600000000000001",
                   account_name: str = "南京测试买方有限公司", year: int = 2024, month: int = 7,
                   closing_balance: Decimal = Decimal("128000.00"), printed: dt.date | None = None) -> bytes:
    """A month's 银行电子对账单 of one account."""
    printed = printed or (dt.date(year + (month == 12), month % 12 + 1, 1))
    return _instance("bkrs", {
        "IdentificationCodeOfIssuer": bank_code, "PrintDate": printed.isoformat(),
        "CustomerSettlementBankAccount": account, "NameOfCustomerAccount": account_name,
        "YearOfBankReconciliationStatement": str(year), "MonthOfBankReconciliationStatement": str(month),
        "Currency": "CNY", "AccountBalanceAtTheEndOfReconciliationCycleAmount": f"{closing_balance:.2f}",
        "AvailableBalanceAtTheEndOfReconciliationCycleAmount": f"{closing_balance:.2f}",
    })


def bank_receipt(*, number: str = "2024071500000001", bank_code: str = "104100000004", date: dt.date,
                 amount: Decimal = Decimal("1060.00"), payer: str = "南京测试买方有限公司",
                 payee: str = "示例软件服务有限公司", identifying_code: str | None = None) -> bytes:
    """One 银行电子回单 (a payment)."""
    return _instance("bker", {
        "IdentificationCodeOfIssuer": bank_code, "NumberOfBankElectronicReceipt": number,
        "IdentifyingCode": identifying_code or f"SYN{number}", "IssueDate": date.isoformat(),
        "TransactionAmountInFigures": f"{amount:.2f}", "AccountNameOfPayer": payer,
        "AccountNumberOfPayer": "6216600000000000001", "OpeningBankOfPayer": "示例银行南京分行",
        "AccountNameOfPayee": payee, "AccountNumberOfPayee": "6222000000000000002",
        "OpeningBankOfPayee": "示例银行上海分行", "Usage": "软件维护费", "Currency": "CNY",
        "IdentificationOfCreditOrDebit": "借", "DateOfBookkeeping": date.isoformat(),
    })


__all__ = ["bank_receipt", "bank_statement"]
