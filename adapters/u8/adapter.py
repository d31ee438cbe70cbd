"""Yonyou U8 EAI (用友 U8 EAI XML) adapter for general-ledger vouchers.

Every call is ``POST <url><eai_path>`` (``/U8EAI/import.asp``) with one
``<ufinterface roottag="voucher" billtype="gl" sender=".." receiver="u8" ...>``
document (format in adapters/u8/format.py):

* post: ``proc="add" renewproofno="y"`` (U8 assigns the number); the reply is
  ``<item key succeed dsc u8key proc/>``, succeed ``0`` = success.
* find_by_external_ref: ``proc="query"`` with ``voucher/voucher_head/reserve2``
  as the example to match.
* pull_changes: ``proc="query" timestamp="0x<rowversion>" maxdataitems="N"``:
  the vouchers changed after that row version, oldest first; the watermark is
  the last row version seen.
* reverse: reads the original by its key (year, period, type, number), then
  adds a red-letter voucher whose every abstract starts with
  ``[冲销yyyy.MM.dd 类别-NNNN号凭证]`` (date and number of the original), as U8's
  own 冲销 does.

**Where the external reference lives**: head field ``reserve2`` (the same
field U8's OpenAPI documents for an external id); ``voucher_making_system``
names this service (setting ``system_name``).

``system_id`` is the voucher key ``<year>-<period>-<type>-<number>`` (U8's
GL_accvouch has no single id across periods). Status: ``iflag=1`` (or
``revokeflag=1``) -> void; ``ibook=1`` -> posted; a checker -> audited; else saved.

Authentication: U8 EAI has none of its own beyond the registered sender code;
the IIS in front of it may ask for HTTP Basic credentials (``username``,
``password``). HTTP 401/403, or a reply refusing the sender, is ``auth_failed``.

Replies are parsed with DTDs refused (adapters/u8/xml.py).

Settings (``accounting.`` prefix optional): ``url`` (``http://u8-server``),
``sender`` (EAI 外部系统编码, required), ``receiver`` (``u8``), ``eai_path``
(``/U8EAI/import.asp``), ``username``/``password`` (optional), ``system_name``
(``IA``), ``xml_encoding`` (``utf-8``; ``gb2312`` for older EAI),
``page_size`` (500), timeouts and TLS as for every adapter; for the ledgers and reports
(docs/records.md): ``records_prepared_by`` (default ``sender``), ``records_reviewed_by``,
``records_chief_accountant``, ``records_head``.
"""
from __future__ import annotations

import datetime as dt
import logging
import re
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

import httpx
from zope.interface import implementer

from invoice_archive_adapters._http import HttpTransport, Settings
from invoice_archive_adapters.books import ledgers_from_vouchers, reports_from_vouchers
from invoice_archive.ports.accounting import (
    EXTERNAL_REF_RE,
    FinancialReport,
    IAccountingRecords,
    LedgerBook,
    post_unless_exists,
    AccountingError,
    CheckResult,
    DraftEntry,
    DraftVoucher,
    IAccountingSystem,
    Outcome,
    PostResult,
    RemoteStatus,
    RemoteVoucher,
)
from invoice_archive_adapters.u8 import format as u8f
from invoice_archive_adapters.u8.xml import UnsafeXml, safe_fromstring, sub, tostring

log = logging.getLogger(__name__)
LABEL = "用友 U8"
KEY_RE = re.compile(r"^(\d{4})-(\d{1,2})-(.+)-(\d+)$")
SENDER_REFUSED = re.compile(r"发送方|sender|拒绝访问|未注册|权限", re.IGNORECASE)


def reversal_prefix(original: RemoteVoucher) -> str:
    return (f"[冲销{original.date:%Y.%m.%d} {original.voucher_word}-"
            f"{int(original.voucher_number):04d}号凭证]")


@implementer(IAccountingSystem, IAccountingRecords)
class U8EaiAdapter:
    name = "u8"

    def __init__(self, settings: Mapping[str, Any]) -> None:
        s = Settings(settings)
        self.sender = s.require("sender")
        self.receiver = str(s.get("receiver", "u8"))
        self.eai_path = str(s.get("eai_path", "/U8EAI/import.asp"))
        self.system_name = str(s.get("system_name", "IA"))
        self.encoding = str(s.get("xml_encoding", "utf-8"))
        self.page_size = s.int("page_size", 500)
        # who the exported books and reports name (docs/records.md); default the EAI sender
        self.records_people = {k: str(s.get(f"records_{k}", "") or "") or None
                               for k in ("prepared_by", "reviewed_by", "chief_accountant", "head")}
        self.records_people["prepared_by"] = self.records_people["prepared_by"] or self.sender
        self.http = HttpTransport.from_settings(
            s, system_label=LABEL, headers={"Content-Type": f"text/xml; charset={self.encoding}"})
        if s.get("username"):
            self.http.client.auth = httpx.BasicAuth(str(s.get("username")), str(s.get("password", "")))

    def close(self) -> None:
        self.http.close()

    # -- transport -----------------------------------------------------------------------------------
    def _exchange(self, document: ET.Element) -> ET.Element:
        response = self.http.send("POST", self.eai_path, content=tostring(document, self.encoding))
        if response.status_code in (401, 403):
            raise AccountingError("auth_failed", f"{LABEL} EAI 拒绝了认证（HTTP {response.status_code}）。请检查 "
                                                 f"accounting.username/password；此错误不会自动重试",
                                  retryable=False, system_message=response.text[:200])
        if response.status_code in (429, 502, 503):
            raise AccountingError("busy", f"{LABEL} EAI 繁忙（HTTP {response.status_code}），请稍后重试", retryable=True)
        if response.status_code == 404:
            raise AccountingError("configuration_error", f"{LABEL} 没有 EAI 接口 {self.eai_path}（HTTP 404），请检查 "
                                                         f"accounting.url 和 accounting.eai_path")
        if response.status_code >= 500:
            raise AccountingError("timeout_outcome_unknown",
                                  f"{LABEL} EAI 处理出错（HTTP {response.status_code}），请求可能已被处理", retryable=True)
        try:
            reply = safe_fromstring(response.content)
        except UnsafeXml as exc:
            raise AccountingError("protocol_error", f"{LABEL} 的答复含有 DTD，已拒绝解析：{exc}") from exc
        except ET.ParseError as exc:
            raise AccountingError("protocol_error", f"{LABEL} 的答复不是合法的 XML：{exc}") from exc
        for item in reply.iterfind("item"):
            if item.get("succeed", "0") != "0" and SENDER_REFUSED.search(item.get("dsc", "")):
                message = item.get("dsc", "")
                raise AccountingError("auth_failed", f"{LABEL} EAI 拒绝了发送方 {self.sender}：{message}。请检查 "
                                                     f"accounting.sender 是否已在 EAI 中注册；此错误不会自动重试",
                                      retryable=False, system_message=message)
        return reply

    def _query(self, **attrs: str) -> tuple[list[RemoteVoucher], str | None]:
        example = attrs.pop("example", None)
        document = u8f.ufinterface("query", self.sender, self.receiver, exportneedexch="N", **attrs)
        if example:
            head = sub(sub(document, "voucher"), "voucher_head")
            for name, value in example.items():
                sub(head, name, value)
        reply = self._exchange(document)
        for item in reply.iterfind("item"):
            if item.get("succeed", "0") != "0":
                message = item.get("dsc", "")
                raise AccountingError("query_failed", f"{LABEL} 查询凭证失败：{message}", retryable=False,
                                      system_message=message)
        if reply.get("succeed", "0") != "0":
            raise AccountingError("query_failed", f"{LABEL} 查询凭证失败：{reply.get('dsc', '')}", retryable=False)
        return [self._remote(el) for el in reply.iterfind("voucher")], reply.get("timestamp")

    def _remote(self, element: ET.Element) -> RemoteVoucher:
        try:
            v = u8f.parse_voucher(element)
            h = v.head
            number = h["voucher_id"]
            if h.get("iflag") == "1" or h.get("revokeflag") == "1":
                status = RemoteStatus.VOID
            elif h.get("ibook") == "1" or h.get("posting_person"):
                status = RemoteStatus.POSTED
            elif h.get("checker"):
                status = RemoteStatus.AUDITED
            else:
                status = RemoteStatus.SAVED
            year, period, word = int(h["fiscal_year"]), int(h["accounting_period"]), h.get("voucher_type") or "记"
            return RemoteVoucher(
                system_id=f"{year}-{period:02d}-{word}-{int(number):04d}", voucher_number=number,
                external_ref=v.reserve2, fiscal_year=year, period=period, date=u8f.parse_date(h["date"]),
                status=status, voucher_word=word, book=h.get("company") or None, preparer=h.get("enter") or None,
                reviewer=h.get("checker") or None, poster=h.get("posting_person") or None,
                attachment_count=int(h.get("attachment_number") or 0), updated_at=None,
                entries=tuple(DraftEntry(e.abstract, e.account_code, e.debit.quantize(Decimal("0.01")),
                                         e.credit.quantize(Decimal("0.01")), e.auxiliary) for e in v.entries),
                raw={"head": h, "timestamp": v.timestamp})
        except (KeyError, ValueError, ArithmeticError) as exc:
            raise AccountingError("protocol_error", f"{LABEL} 返回的凭证无法识别：{exc!r}") from exc

    # -- add ----------------------------------------------------------------------------------------------
    def _voucher(self, draft: DraftVoucher, memo: str = "") -> u8f.U8Voucher:
        head = u8f.head_for({
            "company": draft.book, "voucher_type": draft.voucher_word, "fiscal_year": draft.fiscal_year,
            "accounting_period": draft.period, "voucher_id": "", "attachment_number": draft.attachment_count,
            "date": draft.date.isoformat(), "enter": draft.preparer, "voucher_making_system": self.system_name,
            "memo1": memo, "reserve2": draft.external_ref,
        })
        entries = [u8f.U8Entry(e.summary, e.account_code, e.debit, e.credit, dict(e.auxiliary))
                   for e in draft.entries]
        return u8f.U8Voucher(head, entries, key=draft.external_ref)

    def _add(self, draft: DraftVoucher, memo: str = "") -> PostResult:
        document = u8f.ufinterface("add", self.sender, self.receiver, renewproofno="y")
        u8f.voucher_element(document, self._voucher(draft, memo))
        try:
            reply = self._exchange(document)
        except AccountingError as exc:
            if exc.code in ("auth_failed", "configuration_error"):
                raise
            if exc.code in ("unreachable", "busy"):
                return PostResult.retryable(exc.message, code=exc.code)
            return PostResult.unknown(exc.message + f"；请先按外部参考号 {draft.external_ref} 查询")
        item = reply.find("item")
        if item is None:
            return PostResult.unknown(f"{LABEL} 的答复中没有处理结果（item），请按外部参考号 {draft.external_ref} 查询")
        raw = {"item": dict(item.attrib)}
        if item.get("succeed") != "0":
            message = item.get("dsc") or f"{LABEL} 未导入凭证（succeed={item.get('succeed')}）"
            code = "period_closed" if "结账" in message else "validation_failed"
            return PostResult(Outcome.REJECTED, message=message, code=code, raw=raw)
        key = KEY_RE.match(item.get("u8key") or "")
        if key:
            return PostResult(Outcome.POSTED, str(int(key.group(4))),
                              f"{key.group(1)}-{int(key.group(2)):02d}-{key.group(3)}-{int(key.group(4)):04d}", raw=raw)
        found = self.find_by_external_ref(draft.external_ref)
        if found is None:
            return PostResult.unknown(f"{LABEL} 报告导入成功但查不到外部参考号 {draft.external_ref}", raw=raw)
        return PostResult(Outcome.POSTED, found.voucher_number, found.system_id, raw=raw)

    # -- the port --------------------------------------------------------------------------------------------
    def check(self, draft: DraftVoucher) -> CheckResult:
        """EAI has no dry run: the draft is checked locally with the rules U8 applies on import."""
        problems = draft.problems()
        return CheckResult(not problems, tuple(problems), code="validation_failed" if problems else None)

    def post(self, draft: DraftVoucher) -> PostResult:
        return post_unless_exists(self, draft, self._add)

    def find_by_external_ref(self, ref: str) -> RemoteVoucher | None:
        if not EXTERNAL_REF_RE.match(ref):
            return None
        found = [v for v in self._query(example={"reserve2": ref})[0] if v.external_ref == ref]
        if len(found) > 1:
            log.error("%d U8 vouchers carry reserve2 %s", len(found), ref)
        return found[0] if found else None

    def pull_changes(self, since: str | None) -> tuple[list[RemoteVoucher], str]:
        mark = since or "0x0000000000000000"
        if not re.fullmatch(r"0x[0-9A-Fa-f]{1,16}", mark):
            raise AccountingError("configuration_error", f"U8 水位 {mark!r} 不是合法的 rowversion（0x…）")
        changes: list[RemoteVoucher] = []
        while True:
            page, _ = self._query(timestamp=mark, maxdataitems=str(self.page_size))
            if not page:
                return changes, mark
            changes.extend(page)
            mark = max((v.raw["timestamp"] for v in page if v.raw.get("timestamp")), key=lambda t: int(t, 16),
                       default=mark)
            if len(page) < self.page_size:
                return changes, mark

    # -- IAccountingRecords (docs/records.md) -------------------------------------------------------
    def _vouchers_to(self, fiscal_year: int) -> list[RemoteVoucher]:
        """Every voucher up to the end of ``fiscal_year``, read with the change query from the
        start (U8 EAI has no documented export of its 账簿; the books are built from them)."""
        vouchers, _ = self.pull_changes(None)
        return [v for v in vouchers if v.fiscal_year <= fiscal_year]

    def export_ledgers(self, fiscal_year: int, period: int) -> list[LedgerBook]:
        people = self.records_people
        return ledgers_from_vouchers(self._vouchers_to(fiscal_year), fiscal_year, period, system="u8",
                                     prepared_by=people["prepared_by"], reviewed_by=people["reviewed_by"])

    def export_reports(self, fiscal_year: int, period: int) -> list[FinancialReport]:
        people = self.records_people
        return reports_from_vouchers(self._vouchers_to(fiscal_year), fiscal_year, period, system="u8",
                                     prepared_by=people["prepared_by"], chief_accountant=people["chief_accountant"],
                                     head=people["head"])

    def reverse(self, system_id: str, *, date: dt.date, reason: str, external_ref: str) -> PostResult:
        key = KEY_RE.match(system_id)
        if not key:
            return PostResult(Outcome.REJECTED, message=f"U8 凭证标识 {system_id!r} 格式应为 年-期间-类别-凭证号",
                              code="validation_failed")
        try:
            existing = self.find_by_external_ref(external_ref)
            originals, _ = self._query(example={"fiscal_year": key.group(1), "accounting_period": key.group(2),
                                                "voucher_type": key.group(3), "voucher_id": key.group(4)})
        except AccountingError as exc:
            if not exc.retryable:
                raise
            return PostResult.retryable(f"冲销前查询失败，未提交：{exc.message}", code=exc.code)
        if existing is not None:
            return PostResult(Outcome.POSTED, existing.voucher_number, existing.system_id,
                              message="冲销凭证已存在（同一外部参考号）", already_existed=True, raw=existing.raw)
        if not originals:
            return PostResult(Outcome.REJECTED, message=f"{LABEL} 中没有凭证 {system_id}", code="not_found")
        original = originals[0]
        if original.status is RemoteStatus.VOID:
            return PostResult(Outcome.REJECTED, message=f"凭证 {system_id} 已作废，不能冲销", code="validation_failed")
        prefix = reversal_prefix(original)
        draft = DraftVoucher(
            external_ref=external_ref, book=original.book or "", voucher_word=original.voucher_word,
            fiscal_year=date.year, period=date.month, date=date, preparer=self.system_name, attachment_count=0,
            entries=tuple(DraftEntry(f"{prefix}{e.summary}", e.account_code, -e.debit, -e.credit, e.auxiliary)
                          for e in original.entries))
        return self._add(draft, memo=reason)
