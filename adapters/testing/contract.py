"""The behaviour every IAccountingSystem implementation must show (a contract suite).

A plain class: this module imports no pytest (a test extra) until a test runs.
Each adapter's test module subclasses :class:`AccountingSystemContract` and
provides two things: a ``server`` fixture yielding a started
:class:`invoice_archive_adapters.testing.fakes.FakeServer` of its vendor, and ``make_adapter(server,
**settings)`` building the adapter against it. The ``adapter`` fixture the tests
take wraps :meth:`AccountingSystemContract.connected` (tests/unit/adapters/conftest.py)::

    @pytest.fixture
    def adapter(request, server):
        with request.instance.connected(server) as adapter:
            yield adapter

    class TestKingdee(AccountingSystemContract):
        adapter_class = K3CloudAdapter

        @pytest.fixture
        def server(self):
            with FakeServer(K3CloudFake()) as server:
                yield server

        def make_adapter(self, server, **settings):
            return K3CloudAdapter({"url": server.url, ..., **settings})

The tests talk to the fake over real HTTP on 127.0.0.1 with a 0.5 s read
timeout, so the whole suite stays fast.
"""
from __future__ import annotations

import datetime as dt
import socket
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal
from typing import Any

from zope.interface.verify import verifyClass, verifyObject

from invoice_archive_adapters.books import top_level
from invoice_archive.ports.accounting import (
    LEDGER_KINDS,
    AccountingError,
    CheckResult,
    DraftEntry,
    DraftVoucher,
    IAccountingRecords,
    IAccountingSystem,
    LedgerBook,
    Outcome,
    PostResult,
    RemoteStatus,
    RemoteVoucher,
    reports_due,
)

D = Decimal
READ_TIMEOUT = 0.5  # short, yet with room for a busy 2-core CI machine
HANG = 2.0  # how long the fake holds a reply it was scripted to time out: well above READ_TIMEOUT


def make_draft(ref: str = "IA-BX-2024-0031-v1", *, amount: str = "526.00", tax: str = "46.00",
               credit: str | None = None, period: int = 6, year: int = 2024, book: str = "001",
               day: int = 28, accounts: tuple[str, str, str] = ("660201", "22210101", "1002")) -> DraftVoucher:
    """A claim's voucher: expense + input VAT on the debit side, bank on the credit side."""
    expense, vat, bank = accounts
    total = D(amount)
    net = total - D(tax)
    return DraftVoucher(
        external_ref=ref, book=book, voucher_word="记", fiscal_year=year, period=period,
        date=dt.date(year, period, day), preparer="张三", attachment_count=2,
        entries=(
            DraftEntry("报销差旅费 BX-2024-0031", expense, net, D("0"), {"department": "财务部"}),
            DraftEntry("进项税额 BX-2024-0031", vat, D(tax), D("0")),
            DraftEntry("报销差旅费 BX-2024-0031", bank, D("0"), D(credit) if credit else total),
        ),
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def net_by_account(*vouchers: RemoteVoucher) -> dict[str, Decimal]:
    net: dict[str, Decimal] = defaultdict(lambda: D("0"))
    for voucher in vouchers:
        for e in voucher.entries:
            net[e.account_code] += e.debit - e.credit
    return dict(net)


def raises(exception: type[BaseException]) -> Any:
    """``pytest.raises``, imported when a test runs: pytest is only in the test extra."""
    import pytest

    return pytest.raises(exception)


class AccountingSystemContract:
    """Subclass as ``Test<Vendor>`` and provide ``server`` and ``make_adapter``."""

    adapter_class: type
    #: the accounts the drafts use, from the vendor's chart: expense, input VAT, bank
    #: (K/3 Cloud numbers its accounts with dots: 6602.01, 2221.01.01)
    accounts: tuple[str, str, str] = ("660201", "22210101", "1002")

    def draft(self, ref: str = "IA-BX-2024-0031-v1", **kw: Any) -> DraftVoucher:
        """:func:`make_draft` on this vendor's accounts."""
        kw.setdefault("accounts", self.accounts)
        return make_draft(ref, **kw)

    # -- what the subclass provides, besides a ``server`` fixture (a started FakeServer) --
    def make_adapter(self, server: Any, **settings: Any) -> Any:  # pragma: no cover - overridden
        raise NotImplementedError

    # -- the ``adapter`` fixture's body (tests/unit/adapters/conftest.py) -----------------
    @contextmanager
    def connected(self, server: Any) -> Iterator[Any]:
        """The adapter under test against ``server``, with short timeouts; closed after."""
        server.app.hang_seconds = HANG
        adapter = self.make_adapter(server, connect_timeout=0.5, read_timeout=READ_TIMEOUT)
        try:
            yield adapter
        finally:
            close = getattr(adapter, "close", None)
            if close:
                close()

    def stored(self, server: Any, ref: str) -> list[Any]:
        return [v for v in server.vouchers if v.external_ref == ref]

    # -- the port -------------------------------------------------------------------------
    def test_implements_the_port(self, adapter: Any) -> None:
        assert verifyClass(IAccountingSystem, self.adapter_class)
        assert verifyObject(IAccountingSystem, adapter)

    # -- posting --------------------------------------------------------------------------
    def test_a_balanced_draft_is_posted_with_a_voucher_number(self, server: Any, adapter: Any) -> None:
        result = adapter.post(self.draft())
        assert isinstance(result, PostResult)
        assert result.status == Outcome.POSTED, result
        assert result.voucher_number
        assert result.system_id
        assert result.already_existed is False
        [stored] = self.stored(server, "IA-BX-2024-0031-v1")
        assert stored.debit_total == stored.credit_total == D("526.00")

    def test_find_by_external_ref_finds_the_posted_voucher(self, adapter: Any) -> None:
        posted = adapter.post(self.draft())
        found = adapter.find_by_external_ref("IA-BX-2024-0031-v1")
        assert isinstance(found, RemoteVoucher)
        assert found.system_id == posted.system_id
        assert found.voucher_number == posted.voucher_number
        assert found.external_ref == "IA-BX-2024-0031-v1"
        assert (found.fiscal_year, found.period, found.date) == (2024, 6, dt.date(2024, 6, 28))
        assert found.status in (RemoteStatus.SAVED, RemoteStatus.AUDITED, RemoteStatus.POSTED)
        assert found.debit_total == found.credit_total == D("526.00")
        assert {e.account_code for e in found.entries} == set(self.accounts)

    def test_an_unknown_external_ref_is_not_found(self, adapter: Any) -> None:
        adapter.post(self.draft())
        assert adapter.find_by_external_ref("IA-BX-2024-9999-v1") is None

    def test_posting_the_same_external_ref_twice_creates_one_voucher(self, server: Any, adapter: Any) -> None:
        first = adapter.post(self.draft())
        second = adapter.post(self.draft())
        assert second.status == Outcome.POSTED
        assert second.already_existed is True
        assert (second.voucher_number, second.system_id) == (first.voucher_number, first.system_id)
        assert len(self.stored(server, "IA-BX-2024-0031-v1")) == 1

    def test_two_claims_get_two_vouchers_with_different_numbers(self, server: Any, adapter: Any) -> None:
        first = adapter.post(self.draft("IA-BX-2024-0031-v1"))
        second = adapter.post(self.draft("IA-BX-2024-0032-v1"))
        assert first.voucher_number != second.voucher_number
        assert len(server.vouchers) == 2

    # -- refusals --------------------------------------------------------------------------
    def test_an_unbalanced_draft_is_rejected_with_the_systems_message(self, server: Any, adapter: Any) -> None:
        result = adapter.post(self.draft(credit="525.00"))
        assert result.status == Outcome.REJECTED
        assert result.code == "validation_failed"
        assert "不平衡" in result.message  # the fake system's own words
        assert server.vouchers == []

    def test_an_unknown_account_is_rejected_with_the_systems_message(self, server: Any, adapter: Any) -> None:
        result = adapter.post(self.draft(accounts=("9999",) + self.accounts[1:]))
        assert result.status == Outcome.REJECTED
        assert "9999" in result.message
        assert server.vouchers == []

    def test_a_validation_message_is_passed_through_verbatim(self, server: Any, adapter: Any) -> None:
        server.fail_next("validation", message="摘要中含有不允许的字符「#」")
        result = adapter.post(self.draft())
        assert result.status == Outcome.REJECTED
        assert "摘要中含有不允许的字符「#」" in result.message
        assert server.vouchers == []

    def test_a_closed_period_is_rejected(self, server: Any, adapter: Any) -> None:
        server.close_period(2024, 6)
        result = adapter.post(self.draft())
        assert result.status == Outcome.REJECTED
        assert result.code == "period_closed"
        assert result.message
        assert server.vouchers == []
        assert result.error().retryable is False

    def test_check_validates_without_writing(self, server: Any, adapter: Any) -> None:
        good = adapter.check(self.draft())
        bad = adapter.check(self.draft(credit="525.00"))
        assert isinstance(good, CheckResult) and good.ok
        assert not bad.ok and any("不平衡" in m for m in bad.messages)
        assert server.vouchers == []

    # -- failures --------------------------------------------------------------------------
    def test_an_authentication_failure_is_permanent_and_not_retried(self, server: Any, adapter: Any) -> None:
        server.fail_next("auth")
        with raises(AccountingError) as info:
            adapter.post(self.draft())
        assert info.value.code == "auth_failed"
        assert info.value.retryable is False
        assert info.value.message
        assert server.app.auth_failures == 1, "the adapter retried an authentication failure"
        assert server.vouchers == []

    def test_an_authentication_failure_on_lookup_raises(self, server: Any, adapter: Any) -> None:
        server.fail_next("auth")
        with raises(AccountingError) as info:
            adapter.find_by_external_ref("IA-BX-2024-0031-v1")
        assert info.value.code == "auth_failed"
        assert not info.value.retryable

    def test_a_timeout_after_commit_is_unknown_and_the_voucher_is_found_after(self, server: Any,
                                                                              adapter: Any) -> None:
        server.fail_next("timeout_after_commit")
        result = adapter.post(self.draft())
        assert result.status == Outcome.UNKNOWN
        assert result.code == "timeout_outcome_unknown"
        assert len(self.stored(server, "IA-BX-2024-0031-v1")) == 1  # the system did commit it
        found = adapter.find_by_external_ref("IA-BX-2024-0031-v1")
        assert found is not None and found.voucher_number
        again = adapter.post(self.draft())
        assert again.status == Outcome.POSTED and again.already_existed
        assert again.voucher_number == found.voucher_number
        assert len(self.stored(server, "IA-BX-2024-0031-v1")) == 1

    def test_a_connection_dropped_after_commit_is_unknown(self, server: Any, adapter: Any) -> None:
        server.fail_next("drop_after_commit")
        result = adapter.post(self.draft())
        assert result.status == Outcome.UNKNOWN
        assert adapter.find_by_external_ref("IA-BX-2024-0031-v1") is not None

    def test_a_busy_server_is_retryable_and_nothing_is_written(self, server: Any, adapter: Any) -> None:
        server.fail_next("unavailable")
        result = adapter.post(self.draft())
        assert result.status == Outcome.RETRYABLE
        assert server.vouchers == []
        assert adapter.post(self.draft()).status == Outcome.POSTED

    def test_a_refused_connection_is_retryable(self, server: Any) -> None:
        adapter = self.make_adapter(server, url=server.url.replace(f":{server.port}", f":{free_port()}"),
                                    connect_timeout=0.5, read_timeout=READ_TIMEOUT)
        result = adapter.post(self.draft())
        assert result.status == Outcome.RETRYABLE
        assert result.code == "unreachable"
        with raises(AccountingError) as info:
            adapter.find_by_external_ref("IA-BX-2024-0031-v1")
        assert info.value.retryable

    # -- polling ---------------------------------------------------------------------------
    def test_pull_changes_returns_posted_vouchers_and_an_advancing_watermark(self, server: Any,
                                                                             adapter: Any) -> None:
        adapter.post(self.draft("IA-BX-2024-0031-v1"))
        adapter.post(self.draft("IA-BX-2024-0032-v1"))
        server.app.ledger.post_all()
        changes, first = adapter.pull_changes(None)
        by_ref = {v.external_ref: v for v in changes}
        assert {"IA-BX-2024-0031-v1", "IA-BX-2024-0032-v1"} <= set(by_ref)
        assert by_ref["IA-BX-2024-0031-v1"].status == RemoteStatus.POSTED
        assert isinstance(first, str) and first

        again, same = adapter.pull_changes(first)
        assert again == []

        adapter.post(self.draft("IA-BX-2024-0033-v1"))
        server.app.ledger.post_all()
        later, second = adapter.pull_changes(first)
        assert [v.external_ref for v in later] == ["IA-BX-2024-0033-v1"]
        assert later[0].status == RemoteStatus.POSTED
        assert second != first
        assert adapter.pull_changes(second)[0] == []

    # -- the voucher's state over there ---------------------------------------------------------
    def test_the_state_read_back_follows_the_accountant(self, server: Any, adapter: Any) -> None:
        """A voucher the service writes is not yet posted (过账): that is the accountants' work
        in the accounting system. What the adapter reads back says how far it has come."""
        result = adapter.post(self.draft())
        assert result.remote_status in (None, RemoteStatus.SAVED, RemoteStatus.AUDITED)
        found = adapter.find_by_external_ref("IA-BX-2024-0031-v1")
        assert found.status in (RemoteStatus.SAVED, RemoteStatus.AUDITED)
        if result.remote_status is not None:
            assert result.remote_status == found.status
        server.app.ledger.post_all()
        assert adapter.find_by_external_ref("IA-BX-2024-0031-v1").status == RemoteStatus.POSTED
        again = adapter.post(self.draft())
        assert again.already_existed and again.remote_status in (None, RemoteStatus.POSTED)

    # -- reversal ---------------------------------------------------------------------------
    def test_reverse_creates_a_reversal_voucher_once(self, server: Any, adapter: Any) -> None:
        """A posted voucher is never edited or deleted: it is reversed by a red voucher."""
        original = adapter.post(self.draft())
        server.app.ledger.post_all()
        reversal = adapter.reverse(original.system_id, date=dt.date(2024, 7, 5), reason="发票红冲",
                                   external_ref="IA-BX-2024-0031-v1-R")
        assert reversal.status == Outcome.POSTED, reversal
        assert not reversal.withdrawn
        assert reversal.voucher_number and reversal.system_id != original.system_id
        found = adapter.find_by_external_ref("IA-BX-2024-0031-v1-R")
        assert found is not None and found.system_id == reversal.system_id
        assert (found.fiscal_year, found.period) == (2024, 7)
        source = adapter.find_by_external_ref("IA-BX-2024-0031-v1")
        assert source.status == RemoteStatus.POSTED
        assert set(net_by_account(source, found).values()) == {D("0")}

        again = adapter.reverse(original.system_id, date=dt.date(2024, 7, 5), reason="发票红冲",
                                external_ref="IA-BX-2024-0031-v1-R")
        assert again.status == Outcome.POSTED and again.already_existed
        assert len(server.vouchers) == 2


def _lines(books: list[Any]) -> list[tuple]:
    """What a ledger says, without the names and people a system may word its own way."""
    return [(b.kind, b.fiscal_year, b.period,
             [(ln.kind, ln.account_code, ln.summary, ln.debit, ln.credit, ln.balance, ln.date, ln.voucher_number)
              for ln in b.lines]) for b in books]


def _items(reports: list[Any]) -> list[tuple]:
    return [(r.kind, r.fiscal_year, r.period,
             [(s.kind, [(i.line_no, i.code, i.current, i.prior) for i in s.items]) for s in r.statements])
            for r in reports]


class AccountingRecordsContract:
    """The behaviour every IAccountingRecords implementation must show: the period's
    ledgers and reports, made from the posted vouchers the system holds, the same on
    every export (docs/records.md). Mix into an adapter's contract test class beside
    :class:`AccountingSystemContract` (it uses that class's ``draft`` and fixtures)."""

    def _book(self, server: Any, adapter: Any) -> None:
        """Three posted vouchers (two in June, one in July) and one saved, not posted, in June."""
        adapter.post(self.draft("IA-BX-2024-0031-v1", amount="526.00", tax="46.00"))
        adapter.post(self.draft("IA-BX-2024-0032-v1", amount="1060.00", tax="60.00", day=29))
        adapter.post(self.draft("IA-BX-2024-0033-v1", amount="212.00", tax="12.00", period=7, day=3))
        server.app.ledger.post_all()
        adapter.post(self.draft("IA-BX-2024-0034-v1", amount="999.00", tax="9.00", day=30))   # saved only

    def test_implements_the_records_port(self, adapter: Any) -> None:
        assert verifyClass(IAccountingRecords, self.adapter_class)
        assert verifyObject(IAccountingRecords, adapter)

    def test_the_ledgers_hold_the_posted_vouchers_only(self, server: Any, adapter: Any) -> None:
        self._book(server, adapter)
        books = adapter.export_ledgers(2024, 6)
        assert all(isinstance(b, LedgerBook) for b in books)
        by_kind = {b.kind: b for b in books}
        assert {"general_ledger", "subsidiary_ledger"} <= set(by_kind)
        assert set(by_kind) <= set(LEDGER_KINDS)
        entries = [ln for ln in by_kind["subsidiary_ledger"].lines if ln.kind == "entry"]
        assert len(entries) == 6                                  # 3 lines each of the two posted June vouchers
        assert {ln.date for ln in entries} == {dt.date(2024, 6, 28), dt.date(2024, 6, 29)}
        assert by_kind["subsidiary_ledger"].debit_total == by_kind["subsidiary_ledger"].credit_total == D("1586.00")
        expense, vat, bank = self.accounts
        [month] = [ln for ln in by_kind["general_ledger"].lines if ln.summary == "本期合计"
                   and ln.account_code == top_level(expense)]
        assert (month.debit, month.credit) == (D("1480.00"), D("0.00"))      # 480 + 1000, the saved 990 not
        assert "999.00" not in repr(books) and "990.00" not in repr(books)

    def test_the_ledgers_are_the_systems_own(self, server: Any, adapter: Any) -> None:
        self._book(server, adapter)
        assert _lines(adapter.export_ledgers(2024, 6)) == _lines(server.app.ledgers(2024, 6))
        assert _items(adapter.export_reports(2024, 6)) == _items(server.app.reports(2024, 6))

    def test_the_next_period_opens_with_this_periods_closing(self, server: Any, adapter: Any) -> None:
        self._book(server, adapter)
        june = {ln.account_code: ln.balance for b in adapter.export_ledgers(2024, 6) if b.kind == "general_ledger"
                for ln in b.lines if ln.summary == "本期合计"}
        july = {ln.account_code: ln.balance for b in adapter.export_ledgers(2024, 7) if b.kind == "general_ledger"
                for ln in b.lines if ln.kind == "opening"}
        assert june and july == june

    def test_an_export_is_the_same_every_time(self, server: Any, adapter: Any) -> None:
        self._book(server, adapter)
        assert adapter.export_ledgers(2024, 6) == adapter.export_ledgers(2024, 6)
        assert adapter.export_reports(2024, 6) == adapter.export_reports(2024, 6)

    def test_the_reports_due_at_the_end_of_a_span(self, server: Any, adapter: Any) -> None:
        self._book(server, adapter)
        assert [r.kind for r in adapter.export_reports(2024, 6)] == list(reports_due(6)) == [
            "monthly_report", "quarterly_report", "half_year_report"]
        assert [r.kind for r in adapter.export_reports(2024, 7)] == ["monthly_report"]
        assert [r.kind for r in adapter.export_reports(2024, 12)] == [
            "monthly_report", "quarterly_report", "annual_report"]

    def test_the_balance_sheet_balances_and_the_income_statement_adds_up(self, server: Any, adapter: Any) -> None:
        self._book(server, adapter)
        for report in adapter.export_reports(2024, 7):
            sheets = {s.kind: s for s in report.statements}
            items = {i.name: i for i in sheets["balance_sheet"].items}
            assert items["资产总计"].current == items["负债和所有者权益总计"].current
            assert items["资产总计"].prior == items["负债和所有者权益总计"].prior
            [profit] = [i for i in sheets["income_statement"].items if i.name == "净利润"]
            assert profit.current == D("-200.00")                 # July's 212.00 less its 12.00 input VAT
        [year] = [r for r in adapter.export_reports(2024, 12) if r.kind == "annual_report"]
        [profit] = [i for i in {s.kind: s for s in year.statements}["income_statement"].items if i.name == "净利润"]
        assert profit.current == D("-1680.00")                    # the year's expenses, posted ones only

    def test_an_authentication_failure_on_export_raises(self, server: Any, adapter: Any) -> None:
        server.fail_next("auth")
        with raises(AccountingError) as info:
            adapter.export_ledgers(2024, 6)
        assert info.value.code == "auth_failed" and not info.value.retryable
