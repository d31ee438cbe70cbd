"""What every fake accounting system shares: a ledger, the failure script, a
loopback WSGI server in a background thread.

The servers bind to 127.0.0.1 only. They use the standard library's wsgiref
with one thread per request, so a request that hangs (a scripted timeout)
does not block the look-up that follows it.
"""
from __future__ import annotations

import collections
import datetime as dt
import itertools
import logging
import socket
import socketserver
import threading
import time
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Callable
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

log = logging.getLogger(__name__)

LOOPBACK = "127.0.0.1"

#: a small chart of accounts (科目) every fake knows; others are refused
DEFAULT_ACCOUNTS = {
    "1001": "库存现金", "1002": "银行存款", "1221": "其他应收款", "2202": "应付账款",
    "2221": "应交税费", "222101": "应交增值税", "22210101": "进项税额", "2241": "其他应付款",
    "6601": "销售费用", "6602": "管理费用", "660201": "差旅费", "660202": "办公费", "660203": "业务招待费",
}

FAILURES = {
    "auth": "authentication refused (Kingdee MsgCode 1, U8 unknown sender, HTTP 401)",
    "timeout_after_commit": "the write is committed, then the reply is held past the client's read timeout",
    "drop_after_commit": "the write is committed, then the connection is closed without a reply",
    "validation": "the write is refused with a validation message (message=...)",
    "period_closed": "the write is refused because the period is closed",
    "unavailable": "the server answers 503 and writes nothing",
}


@dataclass
class StoredEntry:
    summary: str
    account_code: str
    debit: Decimal
    credit: Decimal
    auxiliary: dict[str, str] = field(default_factory=dict)

    @property
    def account_name(self) -> str | None:
        return DEFAULT_ACCOUNTS.get(self.account_code)


@dataclass
class StoredVoucher:
    id: int
    number: str
    word: str
    book: str
    fiscal_year: int
    period: int
    date: dt.date
    preparer: str
    entries: list[StoredEntry]
    external_ref: str | None
    attachment_count: int = 0
    status: str = "saved"  # saved | audited | posted | void
    reviewer: str | None = None
    poster: str | None = None
    reversal_of: int | None = None
    modified: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.UTC))
    created: dt.datetime | None = None
    audited_at: dt.datetime | None = None
    posted_at: dt.datetime | None = None
    change_seq: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def debit_total(self) -> Decimal:
        return sum((e.debit for e in self.entries), Decimal("0.00"))

    @property
    def credit_total(self) -> Decimal:
        return sum((e.credit for e in self.entries), Decimal("0.00"))


class Ledger:
    """The fake's books: vouchers, closed periods, numbering, change sequence."""

    def __init__(self, accounts: dict[str, str] | None = None) -> None:
        self.lock = threading.RLock()
        self.accounts = dict(accounts or DEFAULT_ACCOUNTS)
        self.vouchers: dict[int, StoredVoucher] = {}
        self.closed_periods: set[tuple[int, int]] = set()
        self.deleted: list[StoredVoucher] = []
        self._ids = itertools.count(100001)
        self._numbers: dict[tuple[str, int, int, str], int] = collections.defaultdict(int)
        self._seq = 0
        self._last_modified = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)

    def _stamp(self, voucher: StoredVoucher) -> None:
        # strictly increasing, whole milliseconds (what the vendors' databases keep)
        now = dt.datetime.now(dt.UTC)
        now = now.replace(microsecond=now.microsecond // 1000 * 1000)
        if now <= self._last_modified:
            now = self._last_modified + dt.timedelta(milliseconds=1)
        self._last_modified = now
        self._seq += 1
        voucher.modified = now
        voucher.change_seq = self._seq

    def add(self, *, book: str, word: str, fiscal_year: int, period: int, date: dt.date, preparer: str,
            entries: list[StoredEntry], external_ref: str | None, attachment_count: int = 0,
            reversal_of: int | None = None, status: str = "saved", number_format: str = "{:04d}",
            **extra: Any) -> StoredVoucher:
        with self.lock:
            key = (book, fiscal_year, period, word)
            self._numbers[key] += 1
            voucher = StoredVoucher(
                id=next(self._ids), number=number_format.format(self._numbers[key]), word=word, book=book,
                fiscal_year=fiscal_year, period=period, date=date, preparer=preparer, entries=entries,
                external_ref=external_ref, attachment_count=attachment_count, reversal_of=reversal_of,
                status=status, extra=dict(extra))
            self._stamp(voucher)
            voucher.created = voucher.modified
            self.vouchers[voucher.id] = voucher
            return voucher

    def set_status(self, voucher_id: int, status: str, *, by: str = "李会计") -> StoredVoucher:
        """Move a voucher on (as a person in the accounting system would)."""
        with self.lock:
            voucher = self.vouchers[int(voucher_id)]
            voucher.status = status
            if status in ("audited", "posted"):
                voucher.reviewer = voucher.reviewer or by
            if status == "posted":
                voucher.poster = by
            self._stamp(voucher)
            if status in ("audited", "posted") and voucher.audited_at is None:
                voucher.audited_at = voucher.modified
            if status == "posted":
                voucher.posted_at = voucher.modified
            return voucher

    def remove(self, voucher_id: int) -> StoredVoucher:
        """Delete a voucher (as a system that lets an unposted voucher be deleted does);
        its number is not given out again (a gap, 断号, as in the vendors' systems)."""
        with self.lock:
            voucher = self.vouchers.pop(int(voucher_id))
            self._seq += 1
            self.deleted.append(voucher)
            return voucher

    def post_all(self, *, by: str = "李会计") -> None:
        with self.lock:
            for voucher in list(self.vouchers.values()):
                if voucher.status not in ("posted", "void"):
                    self.set_status(voucher.id, "posted", by=by)

    def by_external_ref(self, ref: str) -> list[StoredVoucher]:
        with self.lock:
            return [v for v in self.vouchers.values() if v.external_ref == ref]

    def changed_since(self, seq: int) -> list[StoredVoucher]:
        with self.lock:
            return sorted((v for v in self.vouchers.values() if v.change_seq > seq), key=lambda v: v.change_seq)

    @property
    def change_seq(self) -> int:
        return self._seq

    def problems(self, *, fiscal_year: int, period: int, entries: list[StoredEntry],
                 messages: dict[str, str]) -> tuple[str, str] | None:
        """(code, message) for the first rule a write breaks, in the vendor's words."""
        if (fiscal_year, period) in self.closed_periods:
            return "period_closed", messages["period_closed"].format(year=fiscal_year, period=period)
        if not entries:
            return "validation_failed", messages["empty"]
        for no, e in enumerate(entries, 1):
            if e.account_code not in self.accounts:
                return "validation_failed", messages["account"].format(no=no, code=e.account_code)
            if (e.debit != 0) == (e.credit != 0):
                return "validation_failed", messages["one_side"].format(no=no)
        debit = sum((e.debit for e in entries), Decimal("0"))
        credit = sum((e.credit for e in entries), Decimal("0"))
        if debit != credit:
            return "validation_failed", messages["unbalanced"].format(debit=debit, credit=credit)
        return None


class Script:
    """Scripted failures, consumed in order by the requests they match."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._queue: collections.deque[dict[str, Any]] = collections.deque()
        self.auth_broken = False

    def push(self, kind: str, **options: Any) -> None:
        if kind not in FAILURES:
            raise ValueError(f"unknown failure {kind!r}; one of {sorted(FAILURES)}")
        with self._lock:
            self._queue.append({"kind": kind, **options})

    def take(self, kinds: set[str]) -> dict[str, Any] | None:
        """The next scripted failure if it is one of ``kinds``."""
        with self._lock:
            if self._queue and self._queue[0]["kind"] in kinds:
                return self._queue.popleft()
            return None

    def clear(self) -> None:
        with self._lock:
            self._queue.clear()
            self.auth_broken = False


class FakeApp:
    """Base of the vendor fakes: a WSGI callable with a ledger, a script and a request log."""

    system = "fake"
    #: where the vendor's API lives under the server root (K/3 Cloud: "/K3Cloud")
    url_path = ""
    #: how long a scripted timeout holds the reply (set above the client's read timeout)
    hang_seconds = 1.0

    #: a ``posting.*`` account mapping that fits this fake's chart of accounts
    posting_accounts = {
        "posting.account.expense.default": "6602", "posting.account.expense.travel": "660201",
        "posting.account.input_vat": "22210101", "posting.account.credit": "2241",
    }

    #: who the fake's books and reports name (编制, 审核; 会计机构负责人, 单位负责人)
    bookkeeper, book_reviewer, chief_accountant, head = "张会计", "李主管", "李主管", "王总"

    def __init__(self, *, accounts: dict[str, str] | None = None) -> None:
        self.ledger = Ledger(accounts)
        self.script = Script()
        self.requests: list[dict[str, Any]] = []
        self.auth_failures = 0

    # -- scripting API ------------------------------------------------------
    def fail_next(self, kind: str, **options: Any) -> None:
        """Script the next matching request to fail (see FAILURES)."""
        if kind == "auth":
            self.script.auth_broken = True
            return
        self.script.push(kind, **options)

    def break_auth(self) -> None:
        self.script.auth_broken = True

    def restore_auth(self) -> None:
        self.script.auth_broken = False

    def close_period(self, fiscal_year: int, period: int) -> None:
        self.ledger.closed_periods.add((fiscal_year, period))

    @property
    def vouchers(self) -> list[StoredVoucher]:
        with self.ledger.lock:
            return list(self.ledger.vouchers.values())

    # -- the books and reports, from the vouchers the fake holds (adapters/books.py) --------
    def remote_vouchers(self) -> list[Any]:
        """Every voucher the fake holds, as the port's RemoteVoucher."""
        from invoice_archive.ports.accounting import DraftEntry, RemoteVoucher

        with self.ledger.lock:
            return [RemoteVoucher(
                system_id=str(v.id), voucher_number=v.number, external_ref=v.external_ref,
                fiscal_year=v.fiscal_year, period=v.period, date=v.date,
                status="posted" if v.status == "posted" else "void" if v.status == "void" else "saved",
                voucher_word=v.word, book=v.book, preparer=v.preparer, reviewer=v.reviewer, poster=v.poster,
                entries=tuple(DraftEntry(e.summary, e.account_code, e.debit, e.credit, e.auxiliary,
                                         self.ledger.accounts.get(e.account_code)) for e in v.entries))
                for v in self.ledger.vouchers.values()]

    def ledgers(self, fiscal_year: int, period: int) -> list[Any]:
        """The period's ledgers as the fake's system would print them (deterministic)."""
        from invoice_archive_adapters.books import ledgers_from_vouchers

        return ledgers_from_vouchers(self.remote_vouchers(), fiscal_year, period, chart=self.ledger.accounts,
                                     prepared_by=self.bookkeeper, reviewed_by=self.book_reviewer, system=self.system)

    def reports(self, fiscal_year: int, period: int) -> list[Any]:
        """The reports whose span ends with the period (deterministic)."""
        from invoice_archive_adapters.books import reports_from_vouchers

        return reports_from_vouchers(self.remote_vouchers(), fiscal_year, period, chart=self.ledger.accounts,
                                     prepared_by=self.bookkeeper, chief_accountant=self.chief_accountant,
                                     head=self.head, system=self.system)

    # -- helpers for subclasses ------------------------------------------------
    def log_request(self, environ: dict[str, Any], **info: Any) -> None:
        self.requests.append({"method": environ.get("REQUEST_METHOD"), "path": environ.get("PATH_INFO"),
                              **info})

    def after_commit(self, failure: dict[str, Any] | None, environ: dict[str, Any]) -> None:
        """Carry out a scripted post-commit failure (the voucher is already stored)."""
        if not failure:
            return
        if failure["kind"] == "timeout_after_commit":
            time.sleep(float(failure.get("seconds", self.hang_seconds)))
        elif failure["kind"] == "drop_after_commit":
            sock: socket.socket | None = environ.get("fake.socket")
            if sock is not None:
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
            raise _DropConnection()

    def __call__(self, environ: dict[str, Any], start_response: Callable) -> Any:
        raise NotImplementedError


class _DropConnection(Exception):
    """Raised inside the app to abandon a request without any reply."""


class _QuietHandler(WSGIRequestHandler):
    def get_environ(self) -> dict[str, Any]:
        environ = super().get_environ()
        environ["fake.socket"] = self.connection
        return environ

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        log.debug("fake %s - %s", self.address_string(), format % args)


class _ThreadingServer(socketserver.ThreadingMixIn, WSGIServer):
    daemon_threads = True
    allow_reuse_address = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        log.debug("fake server: request from %s abandoned", client_address, exc_info=True)


def _guard(app: FakeApp) -> Callable:
    def wsgi(environ: dict[str, Any], start_response: Callable) -> Any:
        try:
            return app(environ, start_response)
        except _DropConnection:
            return []
    return wsgi


class FakeServer:
    """Runs a fake accounting system on 127.0.0.1 in a background thread.

    >>> with FakeServer(GenericJsonFake()) as server:
    ...     server.url, server.vouchers, server.app.fail_next("timeout_after_commit")
    """

    def __init__(self, app: FakeApp, port: int = 0, *, url_path: str | None = None) -> None:
        self.app = app
        self._port = port
        self._url_path = app.url_path if url_path is None else url_path
        self._server: _ThreadingServer | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> FakeServer:
        self._server = make_server(LOOPBACK, self._port, _guard(self.app), server_class=_ThreadingServer,
                                   handler_class=_QuietHandler)
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name=f"fake-{self.app.system}", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> FakeServer:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    @property
    def port(self) -> int:
        assert self._server is not None, "server not started"
        return self._server.server_address[1]

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}{self._url_path}"

    @property
    def vouchers(self) -> list[StoredVoucher]:
        return self.app.vouchers

    def fail_next(self, kind: str, **options: Any) -> None:
        self.app.fail_next(kind, **options)

    def close_period(self, fiscal_year: int, period: int) -> None:
        self.app.close_period(fiscal_year, period)

    def serve_forever(self) -> None:
        """Block (for the console command) until interrupted."""
        if self._server is None:
            self.start()
        assert self._thread is not None
        try:
            while self._thread.is_alive():
                self._thread.join(0.5)
        except KeyboardInterrupt:
            pass
        finally:
            self.stop()
