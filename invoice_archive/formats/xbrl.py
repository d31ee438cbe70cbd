"""MOF e-voucher XBRL instances found as OFD attachments.

Taxonomy (by the prefix of the facts): ``inv`` (增值税电子发票 / 数电票),
``rai`` (铁路电子客票), ``bker`` (银行电子回单), ``bkrs`` (银行电子对账单).
Add a reader to :data:`READERS` for another taxonomy (air itineraries,
财政电子票据 ...).

:func:`read_posting_info` reads the receiving side's 入账信息结构化数据文件 (the
posting information ``archive/posting_info.py`` writes into each archive
package; docs/formats.md).
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal

from . import normalize as norm
from .merge import Draft
from .model import LineItem
from .xmlsafe import Element, local, tag_memo, text_of

SOURCE = "ofd:xbrl"


@tag_memo
def _taxonomy_of_tag(tag: object) -> str:
    """'{http://xbrl.mof.gov.cn/taxonomy/2021-09-30/inv}X' -> 'inv' (or the bare prefix)."""
    if not isinstance(tag, str) or tag[:1] != "{":
        return ""
    return tag[1:tag.index("}")].rstrip("/").rpartition("/")[2]


def _taxonomy_of(el: Element) -> str:
    return _taxonomy_of_tag(el.tag)


def _is_nil(el: Element) -> bool:
    """xsi:nil="true", whatever the prefix or namespace handling gave the attribute."""
    for key, value in el.items():
        if value == "true" and (key == "nil" or key.endswith("}nil") or key.endswith(":nil")):
            return True
    return False


def taxonomy(root: Element) -> str | None:
    """The MOF taxonomy the facts of an ``xbrl`` root belong to, by their namespace."""
    if local(root.tag) != "xbrl":
        return None
    counts: dict[str, int] = {}
    for child in root:
        name = _taxonomy_of(child)
        if name in READERS:
            counts[name] = counts.get(name, 0) + 1
    if not counts:
        return None
    return max(counts, key=counts.__getitem__)


def _facts(root: Element, prefix: str) -> dict[str, str]:
    """Top-level facts of one taxonomy: local name -> text (first wins; nil -> absent)."""
    facts: dict[str, str] = {}
    for child in root:
        if len(child) or _taxonomy_of(child) != prefix:
            continue
        name = local(child.tag)
        if name in facts or _is_nil(child):
            continue
        facts[name] = child.text or ""
    return facts


def _tuples(root: Element, prefix: str, name: str) -> list[dict[str, str]]:
    return [
        {local(c.tag): text_of(c) or "" for c in item}
        for item in root
        if local(item.tag) == name and _taxonomy_of(item) == prefix
    ]


def read_xbrl(root: Element) -> Draft | None:
    name = taxonomy(root)
    if name is None:
        return None
    return READERS[name](root, name)


def _inv(root: Element, prefix: str) -> Draft:
    f = _facts(root, prefix)
    d = Draft(SOURCE)
    type_text = norm.text(f.get("TypeOfInvoice"))
    d.set("kind", norm.kind_from_title(type_text))
    if type_text:
        d.extra["type_label"] = type_text
    d.set("code", norm.ident(f.get("CodeOfInvoice")))
    d.set("number", norm.ident(f.get("NumberOfInvoice")))
    d.set("issue_date", norm.date(f.get("DateOfIssue")))
    d.set("check_code", norm.ident(f.get("IdentifyingCode")))
    d.set("machine_number", norm.ident(f.get("NumberOfInvoiceMachine")))
    d.set("buyer_name", norm.text(f.get("NameOfPurchaser")))
    d.set("buyer_tax_id", norm.ident(f.get("TaxpayerIdentificationNumberUnifiedSocialCreditCodeOfPurchaser")))
    d.set("buyer_address_phone", norm.text(f.get("AddressPhoneNumberOfPurchaser")))
    d.set("buyer_bank_account", norm.text(f.get("DepositBankAndAccountNumberOfPurchaser")))
    d.set("seller_name", norm.text(f.get("NameOfSeller")))
    d.set("seller_tax_id", norm.ident(f.get("TaxpayerIdentificationNumberUnifiedSocialCreditCodeOfSeller")))
    d.set("seller_address_phone", norm.text(f.get("AddressPhoneNumberOfSeller")))
    d.set("seller_bank_account", norm.text(f.get("DepositBankAndAccountNumberOfSeller")))
    d.set("amount_excl_tax", norm.money(f.get("TotalAmountExcludingTax"), "合计金额"))
    d.set("tax", norm.money(f.get("TotalTaxAmount"), "合计税额"))
    d.set("total", norm.money(f.get("TaxIncludedAmountInFigures"), "价税合计"))
    d.set("total_in_words", norm.text(f.get("TaxIncludedAmountInWords")))
    d.set("remarks", norm.text(f.get("Remarks")))
    d.set("payee", norm.text(f.get("Payee")))
    d.set("checker", norm.text(f.get("Reviewer")))
    d.set("clerk", norm.text(f.get("Issuer")))
    sign = norm.text(f.get("InvoiceIssuingSign")) or ""
    if "红" in sign:
        d.set("is_red", True)
    lines = []
    for g in _tuples(root, prefix, "InformationOfTaxableGoodsOrServicesDetailItemsTuple"):
        rate_text = norm.text(g.get("TaxRate"))
        lines.append(
            LineItem(
                name=norm.text(g.get("NameOfTaxableGoodsOrServices")),
                specification=norm.text(g.get("Specification")),
                unit=norm.text(g.get("UnitOfGoodsOrServices")),
                quantity=norm.amount(g.get("QuantityOfGoodsOrServices")),
                unit_price=norm.amount(g.get("UnitPriceOfGoodsOrServices")),
                amount=norm.money(g.get("AmountExcludingTax"), "明细金额"),
                tax_rate=norm.rate(rate_text),
                tax=norm.money(g.get("TaxAmount"), "明细税额"),
                tax_rate_text=rate_text,
            )
        )
    d.lines = lines
    return d


_RAI_EXTRA = {
    "ETicketNumber": "e_ticket_number",
    "TrainNumber": "train_number",
    "DepartureStation": "departure_station",
    "DestinationStation": "destination_station",
    "TravelDate": "travel_date",
    "DepartureTime": "departure_time",
    "SeatLevel": "seat_level",
    "Carriage": "carriage",
    "Seat": "seat",
    "Name": "passenger_name",
    "IdNumber": "passenger_id_number",
    "TypeOfBusiness": "business_type",
    "AmountRefunded": "amount_refunded",
}


def _rai(root: Element, prefix: str) -> Draft:
    f = _facts(root, prefix)
    d = Draft(SOURCE)
    business = norm.text(f.get("TypeOfBusiness")) or ""
    d.set("kind", "railway_ticket_refund" if "退" in business else "railway_ticket")
    d.set("number", norm.ident(f.get("ElectronicInvoiceRailwayETicketNumber")))
    d.set("issue_date", norm.date(f.get("DateOfIssue")))
    d.set("total", norm.money(f.get("Fare"), "票价"))
    d.set("amount_excl_tax", norm.money(f.get("TotalAmountExcludingTax"), "合计金额"))
    d.set("tax", norm.money(f.get("TaxAmount"), "税额"))
    d.set("buyer_name", norm.text(f.get("NameOfPurchaser")))
    d.set("buyer_tax_id", norm.ident(f.get("UnifiedSocialCreditCodeOfPurchaser")))
    d.set("buyer_address_phone", norm.text(f.get("AddressPhoneNumberOfPurchaser")))
    d.set("buyer_bank_account", norm.text(f.get("DepositBankAndAccountNumberOfPurchaser")))
    d.set("original_number", norm.ident(f.get("NumberOfOriginalInvoice")))
    d.set("remarks", norm.text(f.get("Remarks")))
    for fact, key in _RAI_EXTRA.items():
        value = norm.text(f.get(fact))
        if value:
            d.extra[key] = value
    rate = norm.rate(f.get("TaxRate"))
    if rate is not None:
        d.extra["tax_rate"] = str(rate)
    return d


def _bker(root: Element, prefix: str) -> Draft:
    f = _facts(root, prefix)
    d = Draft(SOURCE)
    d.set("kind", "bank_receipt")
    d.set("code", norm.ident(f.get("IdentificationCodeOfIssuer")))
    d.set("number", norm.ident(f.get("NumberOfBankElectronicReceipt")))
    d.set("check_code", norm.ident(f.get("IdentifyingCode"), upper=False))
    d.set("issue_date", norm.date(f.get("IssueDate")))
    d.set("total", norm.money(f.get("TransactionAmountInFigures"), "交易金额"))
    d.set("total_in_words", norm.text(f.get("TransactionAmountInWords")))
    d.set("buyer_name", norm.text(f.get("AccountNameOfPayer")))
    d.set("buyer_bank_account", _account(f.get("OpeningBankOfPayer"), f.get("AccountNumberOfPayer")))
    d.set("seller_name", norm.text(f.get("AccountNameOfPayee")))
    d.set("seller_bank_account", _account(f.get("OpeningBankOfPayee"), f.get("AccountNumberOfPayee")))
    d.set("remarks", norm.text(f.get("Usage")) or norm.text(f.get("Notes")))
    for fact, key in (
        ("TypeOfBankElectronicReceipt", "receipt_type"),
        ("IdentificationOfCreditOrDebit", "credit_or_debit"),
        ("Currency", "currency"),
        ("DateOfBookkeeping", "bookkeeping_date"),
        ("TimeOfBookkeeping", "bookkeeping_time"),
        ("JournalAccountOfBookkeeping", "journal_number"),
        ("TransactionCode", "transaction_code"),
        ("AccountNumberOfPayer", "payer_account"),
        ("AccountNumberOfPayee", "payee_account"),
    ):
        value = norm.text(f.get(fact))
        if value:
            d.extra[key] = value
    return d


def _bkrs(root: Element, prefix: str) -> Draft:
    f = _facts(root, prefix)
    d = Draft(SOURCE)
    d.set("kind", "bank_statement")
    d.set("code", norm.ident(f.get("IdentificationCodeOfIssuer")))
    d.set("issue_date", norm.date(f.get("PrintDate")))
    account = norm.ident(f.get("CustomerSettlementBankAccount"))
    d.set("buyer_name", norm.text(f.get("NameOfCustomerAccount")))
    d.set("buyer_bank_account", account)
    year = norm.ident(f.get("YearOfBankReconciliationStatement")) or ""
    month = (norm.ident(f.get("MonthOfBankReconciliationStatement")) or "").zfill(2)
    if account:
        d.extra["account"] = account
    if year:
        d.extra["period"] = f"{year}{month}"
    for fact, key in (
        ("Currency", "currency"),
        ("AccountBalanceAtTheEndOfReconciliationCycleAmount", "closing_balance"),
        ("AvailableBalanceAtTheEndOfReconciliationCycleAmount", "available_balance"),
        ("CodeOfBankCustomer", "customer_code"),
        ("NumberOfBankBranch", "branch_number"),
    ):
        value = norm.text(f.get(fact))
        if value:
            d.extra[key] = value
    lines = []
    for g in _tuples(root, prefix, "InformationOfReconcileDetailsTuple"):
        parts = [norm.text(g.get(k)) for k in ("DateOfBookkeeping", "NameOfCounterparty", "NotesOfBankElectronicReceipt")]
        direction = norm.text(g.get("IdentificationOfCreditOrDebit"))
        lines.append(
            LineItem(
                name=" ".join(p for p in parts if p) or None,
                specification=norm.ident(g.get("NumberOfBankElectronicReceipt")),
                unit={"0": "借", "1": "贷"}.get(direction or "", direction),
                amount=norm.amount(g.get("TransactionAmount")),
            )
        )
    d.lines = lines
    return d


def _account(bank: str | None, number: str | None) -> str | None:
    parts = [p for p in (norm.text(bank), norm.text(number)) if p]
    return " ".join(parts) if parts else None


READERS: dict[str, Callable[[Element, str], Draft]] = {
    "inv": _inv,
    "rai": _rai,
    "bker": _bker,
    "bkrs": _bkrs,
}


# -- the receiver's posting information (入账信息结构化数据文件) ------------------------------

@dataclass(frozen=True)
class PostingEntry:
    direction: str                  # 借 / 贷
    account_code: str
    account_name: str | None
    amount: Decimal | None


@dataclass(frozen=True)
class PostingInfo:
    """What a posting-information file says: the invoice (as the taxonomy's reader
    reads it), the accounting entity, whether it was checked (查验) and booked, and
    the journal voucher it was posted with."""

    taxonomy: str
    invoice: Draft
    entity_name: str | None
    entity_credit_code: str | None
    checked: bool | None
    booked: bool | None
    voucher_number: str | None
    posting_date: object | None     # datetime.date
    accounting_period: str | None   # YYYYMM
    summary: str | None
    entries: tuple[PostingEntry, ...] = field(default_factory=tuple)


def _flag(value: str | None) -> bool | None:
    text = (value or "").strip().lower()
    return True if text in ("true", "1", "是", "y") else False if text in ("false", "0", "否", "n") else None


def read_posting_info(root: Element) -> PostingInfo | None:
    """The posting information of an ``xbrl`` root, or None when it carries none
    (no ``InformationOfAccountingDocumentsTuple``: an issuer's file)."""
    name = taxonomy(root)
    if name is None:
        return None
    documents = [item for item in root
                 if local(item.tag) == "InformationOfAccountingDocumentsTuple" and _taxonomy_of(item) == name]
    if not documents:
        return None
    f = _facts(root, name)
    document = documents[0]
    facts = {local(c.tag): text_of(c) or "" for c in document if not len(c)}
    entries = []
    for entry in document:
        if local(entry.tag) != "InformationOfDebitAndCreditEntryTuple":
            continue
        e = {local(c.tag): text_of(c) or "" for c in entry}
        entries.append(PostingEntry(direction=norm.text(e.get("DebitOrCredit")) or "",
                                    account_code=norm.ident(e.get("CodeOfGeneralLedgerSubject"), upper=False) or "",
                                    account_name=norm.text(e.get("NameOfGeneralLedgerSubject")),
                                    amount=norm.money(e.get("RecordedAmount"), "入账金额")))
    return PostingInfo(
        taxonomy=name, invoice=READERS[name](root, name), entity_name=norm.text(f.get("NameOfAccountingEntity")),
        entity_credit_code=norm.ident(f.get("UnifiedSocialCreditCodeOfAccountingEntity")),
        checked=_flag(f.get("WhetherEinvoiceHasBeenChecked")), booked=_flag(f.get("WhetherEinvoiceHasBeenBooked")),
        voucher_number=norm.text(facts.get("NumberOfAccountingDocuments")),
        posting_date=norm.date(facts.get("PostingDate")),
        accounting_period=norm.ident(facts.get("AccountingPeriod")),
        summary=norm.text(facts.get("SummaryOfAccountingDocuments")), entries=tuple(entries))
