"""Kingdee K/3 Cloud (金蝶云星空) WebAPI adapter for general-ledger vouchers (GL_VOUCHER).

Operations used (all ``POST <url>/Kingdee.BOS.WebApi.ServicesStub.DynamicFormService.<op>.common.kdsvc``,
sent by a wire, adapters/kingdee/wire.py):

* ``Save`` with ``{"formid": "GL_VOUCHER", "data": {"Model": {...}, "NeedReturnFields": [...],
  "IsAutoSubmitAndAudit": "true"|"false"}}``, then ``View`` (``{"Id": ..}``) to read the
  voucher back: its number and its state (FDocumentStatus, posted or not);
* ``ExecuteBillQuery`` with ``{"data": {"FormId": "GL_VOUCHER", "FieldKeys": "...",
  "FilterString": "...", "OrderString": "...", "StartRow": n, "Limit": n}}`` for the
  look-up by external reference, for polling and for reading a voucher to reverse
  (entry fields are asked, so one row per entry);
* reversal, the way K/3 Cloud allows it: a voucher not yet posted (过账) is taken back:
  ``CancelAssign`` (撤销, if submitted) or ``UnAudit`` (反审核, if audited), then
  ``Delete``; a posted voucher is never touched: a red voucher (红字冲销) is saved.

The adapter never audits or posts on its own, unless ``auto_audit`` asks Save to
submit and audit (IsAutoSubmitAndAudit). Auditing and posting are the accountants'
work in K/3 Cloud; the service counts the voucher as 入账 once it reaches
``accounting.posted_when`` (docs/accounting-systems.md), from the state this adapter
reads back (``PostResult.remote_status``, ``RemoteVoucher.status``).

**Where the external reference lives**: in a header-level custom text field of
GL_VOUCHER, ``F_IA_ExtRef`` by default (setting ``external_ref_field``). An
administrator adds it once with the BOS designer (扩展 GL_VOUCHER, 文本, length
>= 64) so that it can be filtered on. The reference is not written into the
entry explanations (摘要), which stay readable for people.

Replies: ``Result.ResponseStatus{IsSuccess, Errors[{FieldName, Message, DIndex}],
SuccessEntitys[{Id, Number}], MsgCode}``. ``MsgCode 1`` (session lost) is how
K/3 Cloud answers any authentication failure: raised as ``auth_failed`` and
never retried.

Status: ``FInvalid`` -> void; ``FPOSTED`` -> posted; ``FDocumentStatus`` C
(audited) -> audited; A/B/D -> saved.

Settings (``accounting.`` prefix optional): ``url`` (the site, e.g.
``http://erp/K3Cloud``), ``acct_id``, ``username``, ``app_id``, ``app_secret``,
``lcid`` (2052), ``org_num`` (0), ``auth`` (``signature`` | ``session``),
``external_ref_field`` (``F_IA_ExtRef``), ``voucher_groups`` (``记=PRE001,收=PRE002,
付=PRE003,转=PRE004``), ``flex_fields`` (``supplier=FFLEX4,department=FFLEX5,
employee=FFLEX7``), ``auto_audit`` (false), ``session_max_age`` (600), ``user_agent``,
``connect_timeout``, ``read_timeout``, ``verify_tls``, ``ca_bundle``; for the ledgers and reports
(``export_ledgers``, ``export_reports``, docs/records.md): ``records_book`` (one account book, default
all), ``records_prepared_by`` (default ``username``), ``records_reviewed_by``,
``records_chief_accountant``, ``records_head``.
"""
from __future__ import annotations

import datetime as dt
import logging
import re
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from zope.interface import implementer

from invoice_archive_adapters._http import Settings
from invoice_archive_adapters.kingdee.wire import LABEL, HttpWire, Wire, auth_failed
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

log = logging.getLogger(__name__)
STUB = "Kingdee.BOS.WebApi.ServicesStub.DynamicFormService"
FORM = "GL_VOUCHER"
PAGE = 2000
HEAD_KEYS = ["FVOUCHERID", "FVOUCHERGROUPNO", "FVOUCHERGROUPID.FNumber", "FAccountBookID.FNumber", "FYEAR",
             "FPERIOD", "FDate", "FDocumentStatus", "FPOSTED", "FInvalid", "FModifyDate", "FAuditDate",
             "FPOSTDATE", "FCreatorId.FName", "FCHECKERID.FName", "FPOSTERID.FName", "FATTACHMENTS"]
ENTRY_KEYS = ["FEXPLANATION", "FACCOUNTID.FNumber", "FACCOUNTID.FName", "FDEBIT", "FCREDIT"]
TRUE = (True, 1, "1", "true", "True")


def _pairs(text: str) -> dict[str, str]:
    return dict(part.split("=", 1) for part in (p.strip() for p in text.split(",")) if "=" in part)


def _quote(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _kd_datetime(text: Any) -> dt.datetime | None:
    if not text:
        return None
    value = dt.datetime.fromisoformat(str(text))
    return value if value.tzinfo else value.astimezone()  # server-local time, as K/3 Cloud keeps it


def remote_status(document_status: Any, posted: Any, invalid: Any) -> RemoteStatus:
    if invalid in TRUE:
        return RemoteStatus.VOID
    if posted in TRUE:
        return RemoteStatus.POSTED
    if document_status == "C":
        return RemoteStatus.AUDITED
    return RemoteStatus.SAVED


def response_status(result: Any) -> dict[str, Any] | None:
    """``Result.ResponseStatus`` of a reply; ExecuteBillQuery and BillQuery wrap it as ``[[{"Result": ..}]]``."""
    while isinstance(result, list) and len(result) == 1 and isinstance(result[0], (list, dict)):
        if isinstance(result[0], dict) and "Result" not in result[0]:
            return None
        result = result[0]
    if isinstance(result, dict):
        status = (result.get("Result") or {}).get("ResponseStatus") if isinstance(result.get("Result"), dict) else None
        return status if isinstance(status, dict) else None
    return None


def messages(status: Mapping[str, Any]) -> str:
    return "；".join(str(e.get("Message")) for e in status.get("Errors") or [] if e.get("Message"))


@implementer(IAccountingSystem, IAccountingRecords)
class K3CloudAdapter:
    name = "kingdee"

    def __init__(self, settings: Mapping[str, Any], *, wire: Wire | None = None) -> None:
        s = Settings(settings)
        self.username = s.require("username")
        self.external_ref_field = str(s.get("external_ref_field", "F_IA_ExtRef"))
        if not re.fullmatch(r"F\w+", self.external_ref_field):
            raise AccountingError("configuration_error", "accounting.external_ref_field 必须是金蝶字段标识，如 F_IA_ExtRef")
        self.voucher_groups = _pairs(str(s.get("voucher_groups", "记=PRE001,收=PRE002,付=PRE003,转=PRE004")))
        self.flex_fields = _pairs(str(s.get("flex_fields", "supplier=FFLEX4,department=FFLEX5,employee=FFLEX7")))
        self.auto_audit = s.bool("auto_audit", False)
        # the account book whose ledgers and reports are exported (all when empty), and who they
        # name (docs/records.md); prepared_by defaults to the integration user
        self.records_book = str(s.get("records_book", "") or "")
        self.records_people = {k: str(s.get(f"records_{k}", "") or "") or None
                               for k in ("prepared_by", "reviewed_by", "chief_accountant", "head")}
        self.records_people["prepared_by"] = self.records_people["prepared_by"] or self.username
        self.wire: Wire = wire if wire is not None else HttpWire(s)

    def close(self) -> None:
        self.wire.close()

    # -- transport ---------------------------------------------------------------------------------
    def _call(self, operation: str, body: dict[str, Any]) -> Any:
        result = self.wire.call(f"{STUB}.{operation}", body)
        status = response_status(result)
        if status is not None and not status.get("IsSuccess") and status.get("MsgCode") == 1:
            forget = getattr(self.wire, "forget_session", None)
            if forget:
                forget()
            raise auth_failed(messages(status) or "会话信息已丢失")
        return result

    def _operate(self, operation: str, system_id: str, **extra: Any) -> tuple[bool, str]:
        """Submit/Audit/UnAudit/CancelAssign/Delete one voucher: (done, K/3 Cloud's message)."""
        result = self._call(operation, {"formid": FORM, **extra, "data": {"Ids": str(system_id)}})
        status = response_status(result) or {}
        return bool(status.get("IsSuccess")), messages(status)

    # -- reading ------------------------------------------------------------------------------------
    def _query(self, filter_string: str, order: str = "FVOUCHERID ASC") -> list[RemoteVoucher]:
        keys = HEAD_KEYS + [self.external_ref_field] + ENTRY_KEYS + \
            [f"FDetailID.{flex}.FNumber" for flex in self.flex_fields.values()]
        rows: list[list[Any]] = []
        start = 0
        while True:
            result = self._call("ExecuteBillQuery", {"data": {
                "FormId": FORM, "FieldKeys": ",".join(keys), "FilterString": filter_string,
                "OrderString": order, "TopRowCount": 0, "StartRow": start, "Limit": PAGE, "SubSystemId": ""}})
            status = response_status(result)
            if status is not None:
                raise AccountingError("query_failed", f"{LABEL}查询凭证失败：{messages(status)}",
                                      retryable=False, system_message=messages(status), raw=result)
            if not isinstance(result, list):
                raise AccountingError("protocol_error", f"{LABEL}查询结果格式无法识别", raw=result)
            rows.extend(result)
            if len(result) < PAGE:
                break
            start += PAGE
        return self._group(rows, keys)

    def _group(self, rows: list[list[Any]], keys: list[str]) -> list[RemoteVoucher]:
        by_id: dict[str, dict[str, Any]] = {}
        aux_keys = {f"FDetailID.{flex}.FNumber": name for name, flex in self.flex_fields.items()}
        words = {group: word for word, group in self.voucher_groups.items()}
        try:
            for row in rows:
                r = dict(zip(keys, row))
                head = by_id.setdefault(str(r["FVOUCHERID"]), {"row": r, "entries": []})
                head["entries"].append(DraftEntry(
                    str(r["FEXPLANATION"] or ""), str(r["FACCOUNTID.FNumber"]),
                    Decimal(str(r["FDEBIT"] or 0)).quantize(Decimal("0.01")),
                    Decimal(str(r["FCREDIT"] or 0)).quantize(Decimal("0.01")),
                    {name: str(r[k]) for k, name in aux_keys.items() if r.get(k)},
                    r.get("FACCOUNTID.FName")))
            vouchers = []
            for system_id, item in by_id.items():
                r = item["row"]
                stamps = [s for s in (_kd_datetime(r[k]) for k in ("FModifyDate", "FAuditDate", "FPOSTDATE")) if s]
                vouchers.append(RemoteVoucher(
                    system_id=system_id, voucher_number=str(r["FVOUCHERGROUPNO"]),
                    external_ref=r.get(self.external_ref_field) or None, fiscal_year=int(r["FYEAR"]),
                    period=int(r["FPERIOD"]), date=dt.date.fromisoformat(str(r["FDate"])[:10]),
                    status=remote_status(r["FDocumentStatus"], r["FPOSTED"], r["FInvalid"]),
                    entries=tuple(item["entries"]), updated_at=max(stamps) if stamps else None,
                    voucher_word=words.get(r["FVOUCHERGROUPID.FNumber"], r["FVOUCHERGROUPID.FNumber"]),
                    book=r["FAccountBookID.FNumber"], preparer=r["FCreatorId.FName"],
                    reviewer=r["FCHECKERID.FName"], poster=r["FPOSTERID.FName"],
                    attachment_count=int(r["FATTACHMENTS"] or 0), raw=r))
            return vouchers
        except (KeyError, TypeError, ValueError, ArithmeticError) as exc:
            raise AccountingError("protocol_error", f"{LABEL}返回的凭证数据无法识别：{exc!r}") from exc

    def _view(self, system_id: str) -> dict[str, Any] | None:
        """The voucher as ``View`` shows it (property names: ``DocumentStatus``, ``POSTED`` ...), or None."""
        result = self._call("View", {"formid": FORM, "data": {"Id": str(system_id)}})
        model = (result.get("Result") or {}).get("Result") if isinstance(result, dict) else None
        return model if isinstance(model, dict) else None

    # -- building the Save body ---------------------------------------------------------------------
    def _model(self, draft: DraftVoucher) -> dict[str, Any]:
        group = self.voucher_groups.get(draft.voucher_word)
        if group is None:
            raise AccountingError("validation_failed", f"凭证字「{draft.voucher_word}」没有对应的金蝶凭证字编码，"
                                                       f"请在 accounting.voucher_groups 中配置")
        entries = []
        for e in draft.entries:
            row: dict[str, Any] = {"FEXPLANATION": e.summary, "FACCOUNTID": {"FNumber": e.account_code},
                                   "FDEBIT": e.debit, "FCREDIT": e.credit}
            detail = {f"FDETAILID__{self.flex_fields[k]}": {"FNumber": v} for k, v in e.auxiliary.items()
                      if k in self.flex_fields}
            if detail:
                row["FDetailID"] = detail
            entries.append(row)
        return {"FVOUCHERID": 0, "FAccountBookID": {"FNumber": draft.book}, "FDate": draft.date.isoformat(),
                "FYEAR": draft.fiscal_year, "FPERIOD": draft.period, "FVOUCHERGROUPID": {"FNumber": group},
                "FATTACHMENTS": draft.attachment_count, self.external_ref_field: draft.external_ref,
                "FEntity": entries}

    def _save(self, draft: DraftVoucher) -> PostResult:
        try:
            model = self._model(draft)
        except AccountingError as exc:
            return PostResult(Outcome.REJECTED, message=exc.message, code=exc.code)
        body = {"formid": FORM, "data": {"NeedUpDateFields": [], "NeedReturnFields": ["FVOUCHERGROUPNO", "FBillNo"],
                                         "IsDeleteEntry": "true", "IsVerifyBaseDataField": "true",
                                         "IsAutoSubmitAndAudit": "true" if self.auto_audit else "false",
                                         "Model": model}}
        try:
            result = self._call("Save", body)
        except AccountingError as exc:
            if exc.code in ("auth_failed", "configuration_error"):
                raise
            if exc.code in ("unreachable", "busy"):
                return PostResult.retryable(exc.message, code=exc.code)
            return PostResult.unknown(exc.message + f"；请先按外部参考号 {draft.external_ref} 查询")
        status = response_status(result) or {}
        if not status.get("IsSuccess"):
            message = messages(status) or "金蝶云星空未保存凭证，且没有给出原因"
            code = "period_closed" if "结账" in message else "validation_failed"
            return PostResult(Outcome.REJECTED, message=message, code=code, raw=result)
        entity = (status.get("SuccessEntitys") or [{}])[0]
        system_id = str(entity.get("Id") or (result.get("Result") or {}).get("Id"))
        returned = ((result.get("Result") or {}).get("NeedReturnData") or [{}])[0] or {}
        number, state = returned.get("FVOUCHERGROUPNO"), None
        try:  # read it back: its number and how far it has come (saved, or audited with auto_audit)
            model = self._view(system_id)
        except AccountingError as exc:
            if exc.code == "auth_failed":
                raise
            log.warning("K/3 Cloud voucher %s saved, reading it back failed: %s", system_id, exc)
            model = None
        if model is not None:
            number = model.get("VOUCHERGROUPNO") or number
            state = remote_status(model.get("DocumentStatus"), model.get("POSTED"), model.get("Invalid"))
        if number in (None, ""):
            found = self.find_by_external_ref(draft.external_ref)
            number = found.voucher_number if found else entity.get("Number")
            state = found.status if found else state
        return PostResult(Outcome.POSTED, str(number), system_id, raw=result, remote_status=state)

    # -- the port -----------------------------------------------------------------------------------
    def check(self, draft: DraftVoucher) -> CheckResult:
        """K/3 Cloud has no dry-run Save: the draft is checked locally with the rules
        Save applies (balance, one side per entry, voucher word known)."""
        problems = draft.problems()
        if draft.voucher_word not in self.voucher_groups:
            problems.append(f"凭证字「{draft.voucher_word}」没有对应的金蝶凭证字编码")
        unknown = sorted({k for e in draft.entries for k in e.auxiliary} - set(self.flex_fields))
        if unknown:
            problems.append(f"核算维度 {', '.join(unknown)} 未在 accounting.flex_fields 中配置，将不会传给金蝶")
        return CheckResult(not problems, tuple(problems), code="validation_failed" if problems else None)

    def post(self, draft: DraftVoucher) -> PostResult:
        return post_unless_exists(self, draft, self._save)

    def find_by_external_ref(self, ref: str) -> RemoteVoucher | None:
        if not EXTERNAL_REF_RE.match(ref):
            return None
        found = self._query(f"{self.external_ref_field} = {_quote(ref)}")
        if len(found) > 1:
            log.error("%d K/3 Cloud vouchers carry external ref %s", len(found), ref)
        return found[0] if found else None

    def pull_changes(self, since: str | None) -> tuple[list[RemoteVoucher], str]:
        """Watermark ``<ISO time>|<FVOUCHERID>``: the latest change seen (modified,
        audited or posted time, whichever is latest) and its voucher, so vouchers
        sharing one timestamp are neither repeated nor skipped."""
        mark_time, mark_id = None, 0
        if since:
            text, _, ident = since.partition("|")
            mark_time, mark_id = dt.datetime.fromisoformat(text), int(ident or 0)
        if mark_time is None:
            filter_string = ""
        else:
            local = _quote(mark_time.astimezone().replace(tzinfo=None).isoformat(sep=" ", timespec="milliseconds"))
            filter_string = f"(FModifyDate >= {local} or FAuditDate >= {local} or FPOSTDATE >= {local})"
        changes = [v for v in self._query(filter_string) if v.updated_at is not None]
        changes.sort(key=lambda v: (v.updated_at, int(v.system_id)))
        if mark_time is not None:
            changes = [v for v in changes if (v.updated_at, int(v.system_id)) > (mark_time, mark_id)]
        if not changes:
            return [], since or ""
        last = changes[-1]
        return changes, f"{last.updated_at.isoformat()}|{last.system_id}"

    # -- IAccountingRecords (docs/records.md) ----------------------------------------------------------
    def _vouchers_to(self, fiscal_year: int) -> list[RemoteVoucher]:
        """The vouchers up to the end of ``fiscal_year`` (ExecuteBillQuery on GL_VOUCHER): the books are
        built from them, as K/3 Cloud's own 总账 and 明细账 reports are (their report services are not
        documented for third parties)."""
        where = f"FYEAR <= {int(fiscal_year)}"
        if self.records_book:
            where += f" and FAccountBookID.FNumber = {_quote(self.records_book)}"
        return self._query(where)

    def export_ledgers(self, fiscal_year: int, period: int) -> list[LedgerBook]:
        people = self.records_people
        return ledgers_from_vouchers(self._vouchers_to(fiscal_year), fiscal_year, period, system="kingdee",
                                     book=self.records_book or None, prepared_by=people["prepared_by"],
                                     reviewed_by=people["reviewed_by"])

    def export_reports(self, fiscal_year: int, period: int) -> list[FinancialReport]:
        people = self.records_people
        return reports_from_vouchers(self._vouchers_to(fiscal_year), fiscal_year, period, system="kingdee",
                                     prepared_by=people["prepared_by"], chief_accountant=people["chief_accountant"],
                                     head=people["head"])

    def reverse(self, system_id: str, *, date: dt.date, reason: str, external_ref: str) -> PostResult:
        """A posted voucher gets a red voucher; one not yet posted is withdrawn (撤销 or
        反审核, then 删除), as K/3 Cloud permits; retried, either way ends the same."""
        try:
            existing = self.find_by_external_ref(external_ref)
            if existing is not None:
                return PostResult(Outcome.POSTED, existing.voucher_number, existing.system_id,
                                  message="冲销凭证已存在（同一外部参考号）", already_existed=True, raw=existing.raw,
                                  remote_status=existing.status)
            originals = self._query(f"FVOUCHERID = {int(system_id)}")
            if not originals:  # withdrawn by an earlier attempt whose reply was lost, or deleted over there
                return PostResult(Outcome.POSTED, None, str(system_id), withdrawn=True, already_existed=True,
                                  message=f"{LABEL}中已没有内码为 {system_id} 的凭证（已删除）")
            original = originals[0]
            if original.status is RemoteStatus.VOID:
                return PostResult(Outcome.REJECTED, message=f"凭证 {original.voucher_number} 已作废，不能冲销",
                                  code="validation_failed")
            if original.status is not RemoteStatus.POSTED:
                withdrawn = self._withdraw(original)
                if withdrawn is not None:
                    return withdrawn
                original = self._query(f"FVOUCHERID = {int(system_id)}")[0]  # posted meanwhile: a red voucher
        except AccountingError as exc:
            if not exc.retryable:
                raise
            if exc.code in ("unreachable", "busy"):
                return PostResult.retryable(f"冲销未完成，可稍后重试：{exc.message}", code=exc.code)
            return PostResult.unknown(f"冲销结果未知，重试前会先查询：{exc.message}")
        summary = f"冲销 {original.voucher_word}-{original.voucher_number}号凭证 {reason}".strip()
        draft = DraftVoucher(
            external_ref=external_ref, book=original.book or "", voucher_word=original.voucher_word,
            fiscal_year=date.year, period=date.month, date=date, preparer=self.username,
            attachment_count=0,
            entries=tuple(DraftEntry(summary, e.account_code, -e.debit, -e.credit, e.auxiliary)
                          for e in original.entries))
        return self._save(draft)

    def _withdraw(self, original: RemoteVoucher) -> PostResult | None:
        """Take an unposted voucher back (CancelAssign or UnAudit, then Delete). None when
        it was posted meanwhile (the caller saves a red voucher instead)."""
        document_status = original.raw.get("FDocumentStatus")
        steps = {"B": ["CancelAssign", "Delete"], "C": ["UnAudit", "Delete"]}.get(document_status, ["Delete"])
        for operation in steps:
            done, message = self._operate(operation, original.system_id)
            if done:
                continue
            now = self._query(f"FVOUCHERID = {int(original.system_id)}")
            if not now:      # gone already
                break
            if now[0].status is RemoteStatus.POSTED:
                return None
            code = "period_closed" if "结账" in message else "validation_failed"
            return PostResult(Outcome.REJECTED, code=code,
                              message=f"凭证 {original.voucher_word}-{original.voucher_number} 未能在{LABEL}中撤回"
                                      f"（{operation}）：{message or '未说明原因'}")
        return PostResult(Outcome.POSTED, original.voucher_number, original.system_id, withdrawn=True,
                          message=f"凭证 {original.voucher_word}-{original.voucher_number} 尚未过账，已在{LABEL}中"
                                  f"{ {'B': '撤销并删除', 'C': '反审核并删除'}.get(document_status, '删除') }")
